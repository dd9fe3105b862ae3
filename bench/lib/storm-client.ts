import { connect as tcpConnect, type Socket } from 'node:net';
import { connectPacket, mqttPacket, mqttString, u16 } from '../../test/harness/mqtt-wire.ts';

/**
 * One device of a reconnect storm over a bare socket: CONNECT with its credentials, wait for
 * CONNACK, one QoS 1 PUBLISH, wait for its PUBACK (MQTT 3.1.1 §3.1–3.4). mqtt.js costs the
 * generator several times the CPU per connection that the gateway spends on it, which on a
 * small machine made the storm measure the generator; this client reads only fixed headers.
 */
export class StormClient {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting?: { type: number; resolve: (firstBodyByte: number) => void; reject: (e: Error) => void };
  private closedWith?: Error;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    const close = (err?: Error) => {
      this.closedWith ??= err ?? new Error('connection closed');
      this.waiting?.reject(this.closedWith);
      this.waiting = undefined;
    };
    socket.on('error', close);
    socket.on('close', () => close());
  }

  /** Connects and logs in; rejects when the connection closes or CONNACK refuses. */
  static async open(url: string, d: { id: string; secret: string }, keepaliveS = 600): Promise<StormClient> {
    const u = new URL(url);
    const socket = tcpConnect({ host: u.hostname, port: Number(u.port) });
    const c = new StormClient(socket);
    socket.write(connectPacket({ clientId: d.id, username: d.id, password: d.secret, keepalive: keepaliveS }));
    const rc = await c.await(2);
    if (rc !== 0) {
      socket.destroy();
      throw new Error(`CONNACK return code ${rc}`);
    }
    return c;
  }

  /** Publishes at QoS 1 (packet id 1) and waits for the PUBACK. */
  async publishQos1(topic: string, payload: string): Promise<void> {
    this.socket.write(mqttPacket(0x32, Buffer.concat([mqttString(topic), u16(1), Buffer.from(payload)])));
    await this.await(4);
  }

  close(): void {
    this.socket.destroy();
  }

  private await(type: number): Promise<number> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiting = { type, resolve, reject };
    });
  }

  /** Splits what arrives into packets by their fixed header; answers the one awaited. */
  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < b.length && i <= 4; i++) {
        len += (b[i] & 0x7f) * mul;
        mul *= 128;
        if (!(b[i] & 0x80)) break;
      }
      if (i >= b.length || b.length < i + 1 + len) return;
      const type = b[0] >> 4;
      // CONNACK: session present, return code; PUBACK: the packet id
      const answer = type === 2 ? b[i + 2] : b[i + 1];
      this.buffered = b.subarray(i + 1 + len);
      if (this.waiting?.type === type) {
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(answer);
      }
    }
  }
}
