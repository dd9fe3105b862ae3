import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { openPrivate, privateDir, privateFile } from '../../core/private-fs.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { ReadingError } from '../../protocol/readings.ts';
import { GroupCommitAppender } from '../spool/group-commit.ts';
import { linesBackward } from './lines.ts';

export type DeadLetterSource = 'ingest' | 'influx' | 'serial';

export interface DeadLetter {
  time: string;
  source: DeadLetterSource;
  code: ErrorCode;
  reason: string;
  deviceId?: string;
  topic?: string;
  /** Per-reading refusals of a message: the first MAX_ERRORS_PER_ENTRY of them. */
  errors?: ReadingError[];
  /** How many refusals of the message there were beyond those listed. */
  moreErrors?: number;
  /** The message as it came (UTF-8 text, or base64 when it was not UTF-8). */
  payload?: string;
  payloadEncoding?: 'utf8' | 'base64';
  /** A line of line protocol that InfluxDB refused. */
  line?: string;
}

/**
 * Refusals kept per entry: the first ones, then a count of the rest. A message of 1,000 bad
 * readings would otherwise write a thousand reasons, sixty times its own size; the rejected
 * notice lists as many.
 */
export const MAX_ERRORS_PER_ENTRY = 20;
/** Longest reason kept, in characters (InfluxDB's words for a refused point can be long). */
export const MAX_REASON_CHARS = 1_000;
/**
 * No entry is longer than this: the payload is bounded by the payload limit (16 MiB at most,
 * six bytes per byte at worst once escaped in JSON) and the rest by the bounds above. Readers
 * pass over a longer line instead of gathering it: it is not an entry of this store.
 */
export const MAX_LINE_BYTES = 128 * 1024 * 1024;

const FILE_RE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function payloadForStore(payload: Uint8Array): Pick<DeadLetter, 'payload' | 'payloadEncoding'> {
  try {
    return { payload: utf8.decode(payload), payloadEncoding: 'utf8' };
  } catch {
    return { payload: Buffer.from(payload).toString('base64'), payloadEncoding: 'base64' };
  }
}

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 3)}...` : text;
}

/** An entry cut to the bounds above: the size of what is written follows the size of the message, not its number of faults. */
export function boundEntry(e: DeadLetter): DeadLetter {
  const out: DeadLetter = { ...e, reason: clip(e.reason) };
  if (e.errors) {
    out.errors = e.errors.slice(0, MAX_ERRORS_PER_ENTRY).map((x) => (x.reason.length > MAX_REASON_CHARS ? { ...x, reason: clip(x.reason) } : x));
    const more = (e.moreErrors ?? 0) + Math.max(0, e.errors.length - MAX_ERRORS_PER_ENTRY);
    if (more > 0) out.moreErrors = more;
  }
  return out;
}

export interface DeadLetterStoreOptions {
  log?: Logger;
  /** Called for each entry refused because the store is at its size limit. */
  onRefused?: (entry: DeadLetter) => void;
}

/**
 * Refused readings and points, kept on disk as one JSON line each in a file per UTC day.
 * Appends are fsynced (group commit) before the message they describe is acknowledged.
 *
 * The store never grows beyond `maxBytes` on disk: the size of its day files is measured when
 * a day's file is opened (so files removed by an operator, or written by another process such
 * as the serial bridge, count from then on), each entry is added to it as it is written, and an
 * entry that would go past the limit is not written at all: `add` says so, it is counted
 * (`refused`, `onRefused`) and logged once until there is room again.
 */
export class DeadLetterStore {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly log?: Logger;
  private readonly onRefused?: (entry: DeadLetter) => void;
  private day = '';
  private fh?: FileHandle;
  private appender?: GroupCommitAppender;
  private bytes = 0;
  private full = false;
  private opening?: Promise<void>;
  /** Entries written, and entries refused for the size limit, since the store was made. */
  count = 0;
  refused = 0;

  constructor(dir: string, maxBytes: number, opts: DeadLetterStoreOptions = {}) {
    this.dir = dir;
    this.maxBytes = maxBytes;
    this.log = opts.log;
    this.onRefused = opts.onRefused;
  }

  async open(): Promise<void> {
    // Raw payloads are owner data: day files 0600 in a 0700 folder, those of an older version narrowed.
    await privateDir(this.dir);
    for (const name of await readdir(this.dir)) if (FILE_RE.test(name)) await privateFile(join(this.dir, name));
    this.bytes = await this.measure();
  }

  /** Bytes on disk: the size of every day file. */
  private async measure(): Promise<number> {
    let total = 0;
    for (const name of await readdir(this.dir)) {
      if (FILE_RE.test(name)) total += (await stat(join(this.dir, name))).size;
    }
    return total;
  }

  /** Writes an entry (fsynced); resolves false when it was refused because the store is at its size limit. */
  async add(entry: Omit<DeadLetter, 'time'> & { time?: string }): Promise<boolean> {
    const time = entry.time ?? new Date().toISOString();
    const e = boundEntry({ ...entry, time });
    const buf = Buffer.from(`${JSON.stringify(e)}\n`);
    const day = time.slice(0, 10);
    while (this.opening) await this.opening;
    if (day !== this.day || !this.appender) {
      this.opening = this.openDay(day).finally(() => { this.opening = undefined; });
      await this.opening;
    }
    if (this.bytes + buf.length > this.maxBytes) {
      this.refused++;
      if (!this.full) {
        this.full = true;
        this.log?.warn({ code: 'GW_ERR_DEADLETTER_FULL', dir: this.dir, bytes: this.bytes, maxBytes: this.maxBytes }, 'dead-letter store is full: refused messages are still counted and described to their devices, but no longer kept');
      }
      this.onRefused?.(e);
      return false;
    }
    this.bytes += buf.length;
    this.count++;
    await this.appender!.append(buf, true);
    return true;
  }

  private async openDay(day: string): Promise<void> {
    if (this.day === day && this.appender) return;
    await this.appender?.drain();
    await this.fh?.close();
    const path = join(this.dir, `${day}.jsonl`);
    this.fh = await openPrivate(path, 'a+');
    const size = (await this.fh.stat()).size;
    this.appender = new GroupCommitAppender(this.fh, size, true, () => {});
    this.day = day;
    this.bytes = await this.measure();
    if (this.full && this.bytes < this.maxBytes) {
      this.full = false;
      this.log?.info({ dir: this.dir, bytes: this.bytes, maxBytes: this.maxBytes }, 'dead-letter store has room again');
    }
  }

  async close(): Promise<void> {
    await this.appender?.drain();
    await this.fh?.close();
    this.fh = undefined;
    this.appender = undefined;
    this.day = '';
  }
}

export interface ListOptions {
  deviceId?: string;
  code?: string;
  limit?: number;
}

async function dayFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => FILE_RE.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * The entries, newest first, as they are read: each day file from its end back, in chunks,
 * so memory stays at one entry whatever the size of the files, and a reader that has what it
 * wants stops reading.
 */
export async function* readDeadLetters(dir: string, opts: Omit<ListOptions, 'limit'> = {}): AsyncGenerator<DeadLetter> {
  for (const name of (await dayFiles(dir)).reverse()) {
    let fh: FileHandle;
    try {
      fh = await open(join(dir, name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed meanwhile
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      for await (const { bytes } of linesBackward(fh, size, MAX_LINE_BYTES)) {
        if (bytes === null) continue;
        let e: DeadLetter;
        try {
          e = JSON.parse(bytes.toString('utf8')) as DeadLetter;
        } catch {
          continue; // blank (erased) or cut by a crash mid-write
        }
        if (opts.deviceId && e.deviceId !== opts.deviceId) continue;
        if (opts.code && e.code !== opts.code) continue;
        yield e;
      }
    } finally {
      await fh.close();
    }
  }
}

/** Newest first, at most `limit` (100 unless told). */
export async function listDeadLetters(dir: string, opts: ListOptions = {}): Promise<DeadLetter[]> {
  const limit = opts.limit ?? 100;
  const out: DeadLetter[] = [];
  if (limit <= 0) return out;
  for await (const e of readDeadLetters(dir, opts)) {
    out.push(e);
    if (out.length >= limit) break;
  }
  return out;
}
