import { connect, type Socket } from 'node:net';
import { histogram, percentiles, type Percentiles } from './stats.ts';
import { remainingLength, u16 } from '../../test/harness/mqtt-wire.ts';

/**
 * The bare-Aedes baseline's one subscriber: an MQTT 3.1.1 client reduced to counting. It
 * subscribes to every device's telemetry and only frames the PUBLISH packets it receives
 * (§2.2: fixed header and remaining length), reading a payload's leading `{"ts":<ms>` for the
 * delivery latency. A full client (mqtt.js) would cost more CPU per message than the broker
 * under test and cap the baseline on a small machine.
 */
export class CountingSubscriber {
  delivered = 0;
  private h = histogram();
  private socket?: Socket;
  private pending: Buffer = Buffer.alloc(0);

  async connect(url: string, filter: string): Promise<void> {
    const u = new URL(url);
    const socket = connect(Number(u.port), u.hostname);
    socket.setNoDelay(true);
    this.socket = socket;
    const clientId = Buffer.from('bench-counter');
    const proto = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00]); // "MQTT", level 4, clean session, keepalive 0
    const connectBody = Buffer.concat([proto, u16(clientId.length), clientId]);
    const topic = Buffer.from(filter);
    const subBody = Buffer.concat([u16(1), u16(topic.length), topic, Buffer.from([0])]);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.write(Buffer.concat([Buffer.from([0x10, ...remainingLength(connectBody.length)]), connectBody]));
        socket.write(Buffer.concat([Buffer.from([0x82, ...remainingLength(subBody.length)]), subBody]));
      });
      let subscribed = false;
      socket.on('data', (chunk: Buffer) => {
        this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
        let off = 0;
        for (;;) {
          if (off + 2 > this.pending.length) break;
          const type = this.pending[off] >> 4;
          let len = 0;
          let mul = 1;
          let i = off + 1;
          let complete = false;
          while (i < this.pending.length && i < off + 5) {
            const b = this.pending[i++];
            len += (b & 0x7f) * mul;
            mul *= 128;
            if ((b & 0x80) === 0) {
              complete = true;
              break;
            }
          }
          if (!complete || i + len > this.pending.length) break;
          if (type === 3) this.onPublish(this.pending, i, len);
          else if (type === 9 && !subscribed) {
            subscribed = true;
            resolve();
          }
          off = i + len;
        }
        this.pending = this.pending.subarray(off);
      });
    });
  }

  private onPublish(buf: Buffer, at: number, _len: number): void {
    this.delivered++;
    const payload = at + 2 + buf.readUInt16BE(at); // QoS 0: no packet id
    const ts = Number(buf.toString('latin1', payload + 6, payload + 19));
    if (ts > 0) this.h.recordValue(Math.max(1, Math.round((Date.now() - ts) * 1000)));
  }

  /** Delivery latencies since the last take(). */
  take(): Percentiles | null {
    const p = percentiles(this.h);
    this.h = histogram();
    return p;
  }

  close(): void {
    this.socket?.destroy();
  }
}
