/** MQTT 3.1.1 remaining length, a variable byte integer [MQTT-2.2.3]. */
export function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A two-byte big-endian integer (lengths, packet ids). */
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A UTF-8 string or binary field with its two-byte length prefix [MQTT-1.5.3]. */
export function mqttString(v: string | Buffer): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v) : v;
  return Buffer.concat([u16(b.length), b]);
}

/** One packet: first byte (type and flags), remaining length, body. */
export function mqttPacket(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte, ...remainingLength(body.length)]), body]);
}

export interface RawConnect {
  clientId: string;
  username?: string | Buffer;
  password?: string | Buffer;
  clean?: boolean;
  keepalive?: number;
  /** Will QoS is written as given, 3 included, so that a broker's check of it can be tested. */
  will?: { topic: string; payload: string | Buffer; qos: number; retain?: boolean };
}

/** An MQTT 3.1.1 CONNECT written byte by byte, for what client libraries refuse to send. */
export function connectPacket(c: RawConnect): Buffer {
  let flags = c.clean === false ? 0 : 0x02;
  if (c.will) flags |= 0x04 | ((c.will.qos & 3) << 3) | (c.will.retain ? 0x20 : 0);
  if (c.password !== undefined) flags |= 0x40;
  if (c.username !== undefined) flags |= 0x80;
  const parts = [mqttString('MQTT'), Buffer.from([4, flags]), u16(c.keepalive ?? 30), mqttString(c.clientId)];
  if (c.will) parts.push(mqttString(c.will.topic), mqttString(c.will.payload));
  if (c.username !== undefined) parts.push(mqttString(c.username));
  if (c.password !== undefined) parts.push(mqttString(c.password));
  return mqttPacket(0x10, Buffer.concat(parts));
}

/** A SUBSCRIBE of `filters`, each at `qos`. */
export function subscribePacket(messageId: number, filters: string[], qos = 1): Buffer {
  return mqttPacket(0x82, Buffer.concat([u16(messageId), ...filters.map((f) => Buffer.concat([mqttString(f), Buffer.from([qos])]))]));
}
