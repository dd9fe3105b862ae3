import type { FileHandle } from 'node:fs/promises';

interface Pending {
  buf: Buffer;
  durable: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Appends to one open file with group commit: while a write+fsync is in flight, new appends
 * queue up and go out together in the next one, so one fsync covers many records under load
 * and a lone record is not held back at low load (no timer).
 */
export class GroupCommitAppender {
  private queue: Pending[] = [];
  private flushing = false;
  private fh: FileHandle;
  private position: number;
  private readonly fsync: boolean;
  /** Called after each group is on disk, with the file's new end and the group's size. */
  private readonly onFlushed: (end: number, records: number, bytes: number) => void;

  constructor(fh: FileHandle, position: number, fsync: boolean, onFlushed: (end: number, records: number, bytes: number) => void) {
    this.fh = fh;
    this.position = position;
    this.fsync = fsync;
    this.onFlushed = onFlushed;
  }

  get end(): number {
    return this.position;
  }

  /** Resolves once the bytes are written, and fsynced when `durable` (and fsync is on). */
  append(buf: Buffer, durable: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ buf, durable, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  /** Waits for everything queued so far, then swaps in another file (segment rotation). */
  async swap(fh: FileHandle, position: number): Promise<void> {
    await this.drain();
    this.fh = fh;
    this.position = position;
  }

  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) {
      await new Promise<void>((r) => setImmediate(r));
      if (!this.flushing && this.queue.length > 0) void this.flush();
    }
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        const bufs = group.map((p) => p.buf);
        try {
          let written = 0;
          const total = bufs.reduce((n, b) => n + b.length, 0);
          while (written < total) {
            const { bytesWritten } = await this.fh.writev(written === 0 ? bufs : [Buffer.concat(bufs).subarray(written)], this.position + written);
            written += bytesWritten;
          }
          if (this.fsync && group.some((p) => p.durable)) await this.fh.datasync();
          this.position += total;
          this.onFlushed(this.position, group.length, total);
          for (const p of group) p.resolve();
        } catch (err) {
          for (const p of group) p.reject(err as Error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
