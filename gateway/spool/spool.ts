import { open, readdir, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { openPrivate, privateDir, privateFile } from '../../core/private-fs.ts';
import { GroupCommitAppender } from './group-commit.ts';
import { HEADER, readRecords, type ReadableSegment, type SpoolRecord, type SpoolView } from './read.ts';
export type { SpoolRecord } from './read.ts';

/**
 * Record layout, little endian:
 *   u32 payload length | u32 crc32(time, lines, payload) | f64 append time (epoch ms) | u32 lines | payload
 * A record whose header or payload is short, or whose crc does not match, ends the log: it was
 * being written when the process died, so it was never acknowledged.
 */
const MAX_RECORD = 64 * 1024 * 1024;
const SEGMENT_RE = /^(\d{20})\.seg$/;

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  segmentBytes: number;
  fsync: boolean;
  log?: Logger;
}

type Segment = ReadableSegment;

/**
 * A run of consecutive records and the append time of its first, for the oldest-record age
 * without a per-record index. A run is closed at GROUP_RECORDS, after GROUP_SPAN_MS, or once
 * the writer committed part of it, so the age it reports is at most GROUP_SPAN_MS too old.
 */
interface Group {
  timeMs: number;
  records: number;
  partlyCommitted?: boolean;
}

const GROUP_RECORDS = 1000;
const GROUP_SPAN_MS = 1000;
const SCAN_CHUNK = 1024 * 1024;

export interface SpoolStats {
  depthBytes: number;
  depthRecords: number;
  oldestAgeMs: number;
  segments: number;
  full: boolean;
  committedOffset: number;
  endOffset: number;
}

/**
 * The durable spool between ingest and the writer: an append-only log of segment files with
 * group commit, and a committed cursor that the writer advances once InfluxDB has the data.
 * Everything past the cursor is replayed at the next start.
 */
export class Spool extends EventEmitter<{ data: []; space: []; full: [] }> {
  private readonly opts: SpoolOptions;
  private segments: Segment[] = [];
  private appender?: GroupCommitAppender;
  private writeHandle?: FileHandle;
  private rotating?: Promise<void>;
  private cursor = 0;
  /** End of everything on disk, and bytes handed to the appender that are not yet. */
  private writtenEnd = 0;
  private pendingBytes = 0;
  private appendedRecords = 0;
  private committedRecords = 0;
  private groups: Group[] = [];
  private wasFull = false;
  private closed = false;

  constructor(opts: SpoolOptions) {
    super();
    this.opts = opts;
  }

  get committedOffset(): number {
    return this.cursor;
  }

  get endOffset(): number {
    return this.writtenEnd;
  }

  get full(): boolean {
    return this.reservedEnd - this.cursor >= this.opts.maxBytes;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private get reservedEnd(): number {
    return this.writtenEnd + this.pendingBytes;
  }

  stats(now = Date.now()): SpoolStats {
    return {
      depthBytes: this.writtenEnd - this.cursor,
      depthRecords: this.appendedRecords - this.committedRecords,
      oldestAgeMs: this.groups.length > 0 ? Math.max(0, now - this.groups[0].timeMs) : 0,
      segments: this.segments.length,
      full: this.full,
      committedOffset: this.cursor,
      endOffset: this.writtenEnd,
    };
  }

  /** Recovers the log: reads the cursor, validates what follows it, cuts a torn tail. */
  async open(): Promise<void> {
    // Readings are owner data: segments 0600 in a 0700 folder, those of an older version narrowed.
    await privateDir(this.opts.dir);
    await privateFile(join(this.opts.dir, 'cursor')).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.cursor = await this.readCursor();
    const names = (await readdir(this.opts.dir)).filter((n) => SEGMENT_RE.test(n)).sort();
    const bases = names.map((n) => Number(SEGMENT_RE.exec(n)![1]));
    this.segments = [];
    for (let i = 0; i < bases.length; i++) {
      const path = join(this.opts.dir, names[i]);
      const size = (await stat(path)).size;
      const nextBase = bases[i + 1];
      if (nextBase !== undefined && nextBase <= this.cursor) {
        await unlink(path); // wholly committed: a delete that a crash interrupted
        continue;
      }
      await privateFile(path);
      this.segments.push({ base: bases[i], end: bases[i] + size, path });
    }
    if (this.segments.length === 0) {
      await this.createSegment(this.cursor);
    } else if (this.cursor < this.segments[0].base) {
      this.opts.log?.warn({ cursor: this.cursor, first: this.segments[0].base }, 'spool cursor is before the first segment; starting at the segment');
      this.cursor = this.segments[0].base;
    }
    await this.scan();
    const last = this.segments[this.segments.length - 1];
    if (this.cursor > last.end) {
      this.opts.log?.warn({ cursor: this.cursor, end: last.end }, 'spool cursor is past the end of the log; unsynced QoS 0 data was lost in a crash');
      this.cursor = last.end;
      // Persisted now: new records go from here, and a stale cursor would point into one of them.
      await this.writeCursor(this.cursor);
    }
    this.writtenEnd = last.end;
    this.writeHandle = await open(last.path, 'r+');
    this.appender = this.makeAppender(last);
    this.opts.log?.info({ ...this.stats(), dir: this.opts.dir }, 'spool open');
  }

  /** Validates records from the cursor on; a bad record in the last segment is a torn tail. */
  private async scan(): Promise<void> {
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i];
      const isLast = i === this.segments.length - 1;
      const from = Math.max(seg.base, this.cursor);
      if (from >= seg.end && !isLast) continue;
      const fh = await open(seg.path, 'r');
      let pos = from;
      try {
        for await (const rec of scanRecords(fh, from - seg.base, seg.end - seg.base)) {
          if (rec === 'bad') {
            if (isLast) {
              this.opts.log?.warn({ segment: seg.path, at: pos, dropped: seg.end - pos }, 'spool: cutting a torn tail (a write the crash interrupted; it was never acknowledged)');
              await truncate(seg.path, pos - seg.base);
            } else {
              this.opts.log?.error({ segment: seg.path, at: pos, skipped: seg.end - pos }, 'spool: corrupt record inside a sealed segment; skipping the rest of that segment');
            }
            seg.end = pos;
            break;
          }
          pos += rec.size;
          this.countAppended(rec.timeMs);
        }
      } finally {
        await fh.close();
      }
    }
  }

  private countAppended(timeMs: number): Group {
    this.appendedRecords++;
    const g = this.groups[this.groups.length - 1];
    if (g && g.records < GROUP_RECORDS && !g.partlyCommitted && timeMs - g.timeMs < GROUP_SPAN_MS) {
      g.records++;
      return g;
    }
    const fresh = { timeMs, records: 1 };
    this.groups.push(fresh);
    return fresh;
  }

  private makeAppender(seg: Segment): GroupCommitAppender {
    return new GroupCommitAppender(this.writeHandle!, seg.end - seg.base, this.opts.fsync, (localEnd, _records, bytes) => {
      this.writtenEnd = seg.base + localEnd;
      this.pendingBytes -= bytes;
      seg.end = this.writtenEnd;
      this.emit('data');
    });
  }

  private async createSegment(base: number): Promise<Segment> {
    const path = join(this.opts.dir, `${String(base).padStart(20, '0')}.seg`);
    const fh = await openPrivate(path, 'a');
    await fh.close();
    await this.syncDir();
    const seg = { base, end: base, path };
    this.segments.push(seg);
    return seg;
  }

  private async rotate(): Promise<void> {
    // Everything queued is on disk first, so the new segment starts exactly where the old ends.
    await this.appender!.drain();
    const path = join(this.opts.dir, `${String(this.writtenEnd).padStart(20, '0')}.seg`);
    const fh = await openPrivate(path, 'wx');
    try {
      await this.syncDir();
    } catch (err) {
      await fh.close();
      await unlink(path).catch(() => {});
      throw err;
    }
    const seg = { base: this.writtenEnd, end: this.writtenEnd, path };
    const old = this.writeHandle!;
    this.segments.push(seg);
    this.writeHandle = fh;
    this.appender = this.makeAppender(seg);
    await old.close();
  }

  /**
   * Appends one record (the line protocol of one message). Resolves when it is written, and
   * when `durable`, once it is fsynced: only then may a QoS 1 PUBACK go out.
   */
  async append(payload: Buffer, lines: number, durable: boolean, timeMs = Date.now()): Promise<void> {
    if (payload.length > MAX_RECORD) throw new Error(`spool record of ${payload.length} bytes exceeds ${MAX_RECORD}`);
    for (;;) {
      if (this.closed) throw new Error('spool is closed');
      if (this.rotating) await this.rotating;
      else if (this.reservedEnd - this.segments[this.segments.length - 1].base >= this.opts.segmentBytes) {
        this.rotating = this.rotate().finally(() => { this.rotating = undefined; });
      } else break;
    }
    const rec = encodeRecord(payload, lines, timeMs);
    this.pendingBytes += rec.length;
    const group = this.countAppended(timeMs);
    if (this.full && !this.wasFull) {
      this.wasFull = true;
      this.emit('full');
    }
    try {
      await this.appender!.append(rec, durable);
    } catch (err) {
      // Not on disk, so neither counted nor acknowledged; the next write goes where this one failed.
      this.pendingBytes -= rec.length;
      this.appendedRecords--;
      group.records--;
      throw err;
    }
  }

  /** Resolves when the spool has room again (backpressure for QoS 1). */
  waitForSpace(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!this.full || this.closed) {
          this.off('space', check);
          resolve();
        }
      };
      this.on('space', check);
    });
  }

  /**
   * Reads records from `from` (a record boundary) up to what is written, at most `maxLines`
   * lines and `maxBytes` payload bytes, always at least one record when one is there.
   */
  read(from: number, maxLines: number, maxBytes: number): Promise<SpoolRecord[]> {
    return readRecords(this.segments, this.writtenEnd, from, maxLines, maxBytes);
  }

  /** The segment files and what of them is written: for a reader in another thread (readRecords). */
  view(): SpoolView {
    return { segments: this.segments.map((s) => ({ base: s.base, end: s.end, path: s.path })), writtenEnd: this.writtenEnd };
  }

  /** Moves the cursor past what InfluxDB has acknowledged; drops wholly committed segments. */
  async commit(offset: number, records: number): Promise<void> {
    // Once closed, the folder may already belong to the next Spool; an unmoved cursor only replays.
    if (offset <= this.cursor || this.closed) return;
    this.cursor = offset;
    this.committedRecords += records;
    let n = records;
    while (n > 0 && this.groups.length > 0) {
      const g = this.groups[0];
      if (g.records <= n) {
        n -= g.records;
        this.groups.shift();
      } else {
        g.records -= n;
        g.partlyCommitted = true;
        n = 0;
      }
    }
    await this.writeCursor(offset);
    while (this.segments.length > 1 && this.segments[0].end <= offset && this.segments[1].base <= offset) {
      const seg = this.segments.shift()!;
      await seg.reader?.close();
      await unlink(seg.path).catch(() => {});
    }
    if (this.wasFull && !this.full) {
      this.wasFull = false;
      this.opts.log?.info(this.stats(), 'spool has room again; acknowledging resumes');
    }
    this.emit('space');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.appender?.drain();
    if (this.opts.fsync) await this.writeHandle?.datasync().catch(() => {});
    await this.writeHandle?.close();
    for (const s of this.segments) await s.reader?.close();
    this.emit('space');
  }

  private async readCursor(): Promise<number> {
    try {
      const fh = await open(join(this.opts.dir, 'cursor'), 'r');
      try {
        const text = (await fh.readFile('utf8')).trim();
        const n = Number(JSON.parse(text).offset);
        return Number.isSafeInteger(n) && n >= 0 ? n : 0;
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      this.opts.log?.error({ err }, 'spool cursor unreadable; replaying the whole spool (replays are idempotent)');
      return 0;
    }
  }

  private async writeCursor(offset: number): Promise<void> {
    const tmp = join(this.opts.dir, 'cursor.tmp');
    const fh = await openPrivate(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ offset }));
      if (this.opts.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.opts.dir, 'cursor'));
  }

  private async syncDir(): Promise<void> {
    if (!this.opts.fsync) return;
    const dh = await open(this.opts.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

function encodeRecord(payload: Buffer, lines: number, timeMs: number): Buffer {
  const rec = Buffer.allocUnsafe(HEADER + payload.length);
  rec.writeUInt32LE(payload.length, 0);
  rec.writeDoubleLE(timeMs, 8);
  rec.writeUInt32LE(lines, 16);
  payload.copy(rec, HEADER);
  rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
  return rec;
}

/** The records of a file from `pos` to `size`, read in large chunks; 'bad' for a short or corrupt one (and stops). */
async function* scanRecords(fh: FileHandle, pos: number, size: number): AsyncGenerator<'bad' | { size: number; timeMs: number }> {
  let buf = Buffer.alloc(0);
  let bufAt = pos;
  while (pos < size) {
    const need = async (n: number): Promise<boolean> => {
      if (pos + n > size) return false;
      if (pos + n <= bufAt + buf.length) return true;
      const len = Math.min(size - pos, Math.max(n, SCAN_CHUNK));
      const next = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(next, 0, len, pos);
      buf = next.subarray(0, bytesRead);
      bufAt = pos;
      return bytesRead >= n;
    };
    if (!(await need(HEADER))) return yield 'bad';
    const head = buf.subarray(pos - bufAt, pos - bufAt + HEADER);
    const len = head.readUInt32LE(0);
    const crc = head.readUInt32LE(4);
    const timeMs = head.readDoubleLE(8);
    if (len > MAX_RECORD || !(await need(HEADER + len))) return yield 'bad';
    const at = pos - bufAt;
    if (crc32(buf.subarray(at + 8, at + HEADER + len)) !== crc) return yield 'bad';
    yield { size: HEADER + len, timeMs };
    pos += HEADER + len;
  }
}
