import type { TransformCallback } from 'node:stream';
import { DelimiterParser } from 'serialport';

export interface LineParserOptions {
  /** Longest line kept, without its line end. */
  maxLineBytes: number;
  /** Bytes without a line end for this long are handed to onPartial; 0: never. */
  partialLineTimeoutMs: number;
  /** A line over the limit: its length and its first bytes. */
  onOverlong(bytes: number, head: Buffer): void;
  /** Bytes of an unfinished line that went quiet. */
  onPartial(bytes: Buffer): void;
}

/** Bytes of an over-long line kept for the report. */
const HEAD_BYTES = 1024;
const LF = 0x0a;

/**
 * serialport's line framing (DelimiterParser, the base of ReadlineParser) with a bound:
 * the library keeps an unfinished line in memory however long it grows, so a device that
 * never sends a line end would exhaust it. Past maxLineBytes the line is dropped up to its
 * end and reported. Lines come out as Buffers so the bridge can tell noise from UTF-8.
 */
export class BoundedLineParser extends DelimiterParser {
  private readonly maxLineBytes: number;
  private readonly partialLineTimeoutMs: number;
  private readonly onOverlong: LineParserOptions['onOverlong'];
  private readonly onPartial: LineParserOptions['onPartial'];
  /** Bytes of the over-long line being dropped so far; 0 while not dropping. */
  private dropping = 0;
  private dropHead = Buffer.alloc(0);
  private timer?: NodeJS.Timeout;
  private held = false;

  constructor(opts: LineParserOptions) {
    super({ delimiter: [LF] });
    this.maxLineBytes = opts.maxLineBytes;
    this.partialLineTimeoutMs = opts.partialLineTimeoutMs;
    this.onOverlong = opts.onOverlong;
    this.onPartial = opts.onPartial;
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, cb: TransformCallback): void {
    let data = chunk;
    if (this.dropping > 0) {
      const end = data.indexOf(LF);
      if (end === -1) {
        this.dropping += data.length;
        this.arm();
        return cb();
      }
      this.endDrop(this.dropping + end);
      data = data.subarray(end + 1);
    }
    super._transform(data, encoding, (err) => {
      if (this.buffer.length > this.maxLineBytes) {
        this.dropping = this.buffer.length;
        this.dropHead = Buffer.from(this.buffer.subarray(0, HEAD_BYTES));
        this.buffer = Buffer.alloc(0);
      }
      this.arm();
      cb(err);
    });
  }

  /** Complete lines within one chunk bypass the buffer check; they are bounded here. */
  override push(line: Buffer | null, encoding?: BufferEncoding): boolean {
    if (line !== null && line.length > this.maxLineBytes) {
      this.onOverlong(line.length, Buffer.from(line.subarray(0, HEAD_BYTES)));
      return true;
    }
    return super.push(line, encoding);
  }

  /** An unfinished line at the end is not a line: it is handed to onPartial by the owner. */
  override _flush(cb: TransformCallback): void {
    this.clearTimer();
    cb();
  }

  /** Bytes waiting for their line end. */
  pendingBytes(): number {
    return this.buffer.length + this.dropping;
  }

  /** Takes the unfinished line (the port closed under it); reports a drop in progress. */
  takePartial(): Buffer {
    this.clearTimer();
    if (this.dropping > 0) this.endDrop(this.dropping);
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  /** While the consumer is paused no bytes arrive, so quiet does not mean a cut line. */
  hold(held: boolean): void {
    this.held = held;
    if (held) this.clearTimer();
    else this.arm();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.clearTimer();
    super._destroy(err, cb);
  }

  private endDrop(total: number): void {
    this.onOverlong(total, this.dropHead);
    this.dropping = 0;
    this.dropHead = Buffer.alloc(0);
  }

  private arm(): void {
    this.clearTimer();
    if (this.held || this.partialLineTimeoutMs <= 0 || this.pendingBytes() === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const rest = this.takePartial();
      if (rest.length > 0) this.onPartial(rest);
    }, this.partialLineTimeoutMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
