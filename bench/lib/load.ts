import mqtt, { type MqttClient } from 'mqtt';
import { RateLimiter } from '../../firmware-sim/rate.ts';
import type { LoadDevice } from './fleet.ts';
import { histogram, percentiles, type Percentiles } from './stats.ts';
import { remainingLength } from '../../test/harness/mqtt-wire.ts';

export interface OpenLoopOptions {
  url: string;
  devices: LoadDevice[];
  qos: 0 | 1;
  /** Readings per message. */
  batch: number;
  /** Connections opened per second. */
  connectRate?: number;
  /** Send credentials (a bare broker takes anyone). */
  auth?: boolean;
  log?: (m: string) => void;
}

export interface StepResult {
  /** Readings per second offered, and the step's length. */
  rate: number;
  durationS: number;
  sentReadings: number;
  sentMessages: number;
  /** QoS 1: readings whose message was acknowledged (PUBACK). */
  ackedReadings: number;
  /** QoS 1: PUBACK time counted from the scheduled send time, ms. */
  puback: Percentiles | null;
  /** How far behind its schedule the generator fell at worst, ms. */
  maxLagMs: number;
  /** Readings not acknowledged within the wait after the step (QoS 1). */
  unacked: number;
}

interface DeviceState {
  d: LoadDevice;
  client: MqttClient;
  lastTs: number;
  seq: number;
  body: number;
  /** Topic name, length-prefixed, as it goes into every PUBLISH. */
  topic: Buffer;
  messageId: number;
  /** QoS 1 messages awaiting PUBACK: message id → callback. */
  waiting: Map<number, () => void>;
}


/**
 * Writes one PUBLISH packet straight onto the device's socket. mqtt.js makes the connection
 * (CONNECT with the device's credentials) and reads what comes back; its own publish path costs
 * more CPU per message than the broker under test, which would make the generator the
 * bottleneck on a small machine, so the packets are encoded here (MQTT 3.1.1 §3.3).
 */
function writePublish(s: DeviceState, payload: string, qos: 0 | 1, onAck?: () => void): void {
  const body = Buffer.from(payload);
  const idBytes = qos === 1 ? 2 : 0;
  const rl = remainingLength(s.topic.length + idBytes + body.length);
  const head = Buffer.allocUnsafe(1 + rl.length + s.topic.length + idBytes);
  head[0] = 0x30 | (qos << 1);
  for (let i = 0; i < rl.length; i++) head[1 + i] = rl[i];
  s.topic.copy(head, 1 + rl.length);
  if (qos === 1) {
    s.messageId = (s.messageId % 65_535) + 1;
    head.writeUInt16BE(s.messageId, head.length - 2);
    s.waiting.set(s.messageId, onAck!);
  }
  // One write of both parts (as client libraries do): two would be two TCP segments, and with
  // Nagle's algorithm the second waits for the first's ACK, which the receiver delays by up to
  // 40 ms — that, not the broker, was most of the PUBACK latency measured before.
  const stream = (s.client as unknown as { stream: NodeJS.WritableStream & { cork(): void; uncork(): void } }).stream;
  stream.cork();
  stream.write(head);
  stream.write(body);
  stream.uncork();
}

/**
 * Open-loop load: messages have scheduled send times at a fixed rate, spread round-robin over
 * the devices, each device its own MQTT connection. Latency counts from the scheduled time,
 * so a stalled broker shows in the figures instead of slowing the generator down
 * (no coordinated omission). Each reading's ts is its scheduled time (kept distinct per
 * device), so every reading sent is a distinct point in InfluxDB.
 */
export class OpenLoop {
  private readonly options: OpenLoopOptions;
  private states: DeviceState[] = [];
  private next = 0;

  constructor(o: OpenLoopOptions) {
    this.options = o;
  }

  async connect(): Promise<void> {
    const limiter = new RateLimiter(this.options.connectRate ?? 1_000);
    let done = 0;
    const ticker = setInterval(() => this.options.log?.(`connecting: ${done}/${this.options.devices.length}`), 2_000);
    try {
      this.states = await Promise.all(this.options.devices.map(async (d) => {
        await limiter.take();
        const client = await connectDevice(this.options.url, d, this.options.auth !== false);
        done++;
        const topic = Buffer.alloc(2 + Buffer.byteLength(d.topic));
        topic.writeUInt16BE(topic.length - 2, 0);
        topic.write(d.topic, 2);
        const state: DeviceState = { d, client, lastTs: 0, seq: 0, body: 0, topic, messageId: 0, waiting: new Map() };
        client.on('packetreceive', (p) => {
          if (p.cmd !== 'puback') return;
          const cb = state.waiting.get(p.messageId!);
          state.waiting.delete(p.messageId!);
          cb?.();
        });
        return state;
      }));
    } finally {
      clearInterval(ticker);
    }
  }

  private payload(s: DeviceState, scheduledMs: number): string {
    const parts: string[] = [];
    for (let i = 0; i < this.options.batch; i++) {
      s.lastTs = Math.max(s.lastTs + 1, scheduledMs - this.options.batch + 1 + i);
      s.seq++;
      parts.push(`{"ts":${s.lastTs},"seq":${s.seq},${s.d.bodies[s.body++ % s.d.bodies.length]}}`);
    }
    return this.options.batch === 1 ? parts[0] : `[${parts.join(',')}]`;
  }

  /** Offers `rate` readings per second for `durationMs`, then waits for outstanding PUBACKs. */
  async step(rate: number, durationMs: number): Promise<StepResult> {
    if (!(rate > 0)) throw new Error(`a load step needs a rate above 0 readings/s, got ${rate}`);
    const { qos, batch } = this.options;
    const msgRate = rate / batch;
    const interval = 1000 / msgRate;
    const total = Math.max(1, Math.round((durationMs / 1000) * msgRate));
    const h = histogram();
    let acked = 0;
    let outstanding = 0;
    let maxLag = 0;
    let sent = 0;
    const start = performance.now();
    const origin = performance.timeOrigin;
    while (sent < total) {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      const sliceEnd = now + 20;
      while (sent < due) {
        const scheduled = start + sent * interval;
        const s = this.states[this.next++ % this.states.length];
        const body = this.payload(s, Math.floor(origin + scheduled));
        if (qos === 1) {
          outstanding++;
          writePublish(s, body, 1, () => {
            outstanding--;
            acked += batch;
            h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
          });
        } else {
          writePublish(s, body, 0);
        }
        sent++;
        // Let socket reads (PUBACKs) in now and then when far behind.
        if ((sent & 127) === 0 && performance.now() > sliceEnd) break;
      }
      maxLag = Math.max(maxLag, performance.now() - (start + (sent - 1) * interval));
      if (sent >= total) break;
      // Behind schedule: let I/O in and go on at once. Otherwise sleep until the next message is
      // due (timers resolve to 1 ms: messages due within it go out together, never spinning).
      const wait = start + sent * interval - performance.now();
      await new Promise((r) => (wait <= 0 ? setImmediate(r) : setTimeout(r, Math.min(Math.max(1, wait), 50))));
    }
    const durationS = (performance.now() - start) / 1000;
    // Outstanding acknowledgements: wait for them (they still count from their scheduled time).
    const deadline = performance.now() + 30_000;
    while (qos === 1 && outstanding > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return {
      rate, durationS, sentReadings: sent * batch, sentMessages: sent, ackedReadings: acked,
      puback: qos === 1 ? percentiles(h) : null, maxLagMs: Math.round(maxLag), unacked: outstanding * batch,
    };
  }

  /**
   * A burst: every device sends `perDevice` readings, one per message, as fast as its connection
   * takes them (a write waits only for the socket to drain); at QoS 1 with at most `window`
   * messages unacknowledged per device, as a device's client library allows. Each reading's ts
   * is its send time. PUBACK latency counts from the write.
   */
  async burst(perDevice: number, window = 16): Promise<StepResult> {
    const { qos } = this.options;
    const h = histogram();
    let acked = 0;
    let sent = 0;
    const start = performance.now();
    const origin = performance.timeOrigin;
    await Promise.all(this.states.map(async (s) => {
      const stream = (s.client as unknown as { stream: NodeJS.WritableStream & { writableNeedDrain: boolean } }).stream;
      let inFlight = 0;
      let slot: (() => void) | undefined;
      for (let i = 0; i < perDevice; i++) {
        const at = performance.now();
        const body = this.payload(s, Math.floor(origin + at));
        if (qos === 1) {
          while (inFlight >= window) await new Promise<void>((r) => (slot = r));
          inFlight++;
          writePublish(s, body, 1, () => {
            inFlight--;
            acked++;
            h.recordValue(Math.max(1, Math.round((performance.now() - at) * 1000)));
            const wake = slot;
            slot = undefined;
            wake?.();
          });
        } else {
          writePublish(s, body, 0);
        }
        sent++;
        if (stream.writableNeedDrain) await new Promise((r) => stream.once('drain', r));
        else if ((i & 31) === 31) await new Promise((r) => setImmediate(r));
      }
      const deadline = performance.now() + 120_000;
      while (inFlight > 0 && performance.now() < deadline) await new Promise<void>((r) => { slot = r; setTimeout(r, 100); });
    }));
    const durationS = (performance.now() - start) / 1000;
    return {
      rate: sent / durationS, durationS, sentReadings: sent, sentMessages: sent, ackedReadings: acked,
      puback: qos === 1 ? percentiles(h) : null, maxLagMs: 0, unacked: qos === 1 ? sent - acked : 0,
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.states.map((s) => s.client.endAsync(true).catch(() => {})));
    this.states = [];
  }
}

/** One device connection as the firmware makes it (client id = username = device id). */
export function connectDevice(url: string, d: { id: string; secret: string }, auth = true, keepaliveS = 600): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    clientId: d.id, ...(auth ? { username: d.id, password: d.secret } : {}), protocolVersion: 4, clean: true,
    keepalive: keepaliveS, reconnectPeriod: 0, connectTimeout: 60_000,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      client.end(true);
      reject(new Error(`device ${d.id} cannot connect to ${url}: ${err.message}`));
    };
    client.once('error', fail);
    client.once('close', () => { if (!client.connected) fail(new Error('closed before CONNACK')); });
    client.once('connect', () => {
      client.removeListener('error', fail);
      client.removeAllListeners('close');
      client.on('error', () => {});
      resolve(client);
    });
  });
}
