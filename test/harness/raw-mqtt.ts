import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * A bare TCP connection to a broker that sends bytes as given and reads back what the broker
 * answers, packet by packet: for what client libraries refuse to send (malformed or
 * out-of-spec packets, thousands of filters) and for answers they hide (a SUBACK's codes, a
 * close without CONNACK).
 */
export class RawMqtt {
  readonly sock: Socket;
  /** Resolves when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  private readonly packets: Packet[] = [];
  private waiting?: () => void;
  private parseError?: Error;

  private constructor(sock: Socket) {
    this.sock = sock;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      this.packets.push(p);
      this.waiting?.();
    });
    parser.on('error', (err) => (this.parseError = err));
    sock.on('data', (b) => parser.parse(b));
    sock.on('error', () => {}); // a reset by the broker shows as 'close'
    this.closed = new Promise((resolve) => sock.once('close', () => {
      resolve();
      this.waiting?.();
    }));
  }

  static open(port: number, opts: { localAddress?: string } = {}): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const sock = connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new RawMqtt(sock));
      });
      sock.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  /** The next packet from the broker, or 'closed' when the connection closes first. */
  async next(timeoutMs = 10_000): Promise<Packet | 'closed'> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.parseError) throw this.parseError;
      const p = this.packets.shift();
      if (p) return p;
      if (this.sock.destroyed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet from the broker within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          this.waiting = undefined;
          resolve();
        };
      });
    }
  }

  destroy(): void {
    this.sock.destroy();
  }
}
