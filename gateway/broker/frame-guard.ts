import { Duplex } from 'node:stream';

/**
 * Wraps a connection so that an MQTT packet announcing more than `maxPacketBytes` closes the
 * connection as soon as its fixed header is read, before any of its body is buffered: the
 * MQTT parser would otherwise collect the whole packet in memory first. Bytes pass through
 * untouched; only the fixed headers are looked at.
 */
export class FrameGuard extends Duplex {
  readonly remoteAddress?: string;
  private readonly inner: Duplex;
  private readonly max: number;
  private readonly onTooLarge: (announced: number) => void;
  // scanner state: bytes of the current packet body still to skip, or reading a header
  private skip = 0;
  private stage: 'type' | 'length' = 'type';
  private length = 0;
  private multiplier = 1;
  private refused = false;

  constructor(inner: Duplex, maxPacketBytes: number, onTooLarge: (announced: number) => void, remoteAddress?: string) {
    super({ allowHalfOpen: false });
    this.inner = inner;
    this.max = maxPacketBytes;
    this.onTooLarge = onTooLarge;
    this.remoteAddress = remoteAddress;
    inner.on('data', (chunk: Buffer) => {
      if (!this.scan(chunk)) return;
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  /** False when a packet over the limit was announced (the connection is then closed). */
  private scan(chunk: Buffer): boolean {
    if (this.refused) return false;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (this.stage === 'type') {
        this.stage = 'length';
        this.length = 0;
        this.multiplier = 1;
        i++;
        continue;
      }
      const b = chunk[i++];
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (b & 0x80 && this.multiplier <= 128 ** 3) continue;
      // [MQTT-2.2.3] the remaining length is complete
      this.stage = 'type';
      if (this.length > this.max) {
        this.refused = true;
        this.onTooLarge(this.length);
        this.inner.destroy();
        return false;
      }
      this.skip = this.length;
    }
    return true;
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.inner.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.inner.write(chunks[i].chunk);
    this.inner.write(chunks[chunks.length - 1].chunk, cb);
    this.inner.uncork();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
