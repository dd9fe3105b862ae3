import { mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { ReadingError } from '../../protocol/readings.ts';
import { GroupCommitAppender } from '../spool/group-commit.ts';

export type DeadLetterSource = 'ingest' | 'influx' | 'serial';

export interface DeadLetter {
  time: string;
  source: DeadLetterSource;
  code: ErrorCode;
  reason: string;
  deviceId?: string;
  topic?: string;
  /** Per-reading refusals of a message. */
  errors?: ReadingError[];
  /** The message as it came (UTF-8 text, or base64 when it was not UTF-8). */
  payload?: string;
  payloadEncoding?: 'utf8' | 'base64';
  /** A line of line protocol that InfluxDB refused. */
  line?: string;
  /** Set when the store was over its size limit and the payload was not kept. */
  payloadOmitted?: boolean;
}

const FILE_RE = /^(\d{4}-\d{2}-\d{2})\.jsonl$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function payloadForStore(payload: Uint8Array): Pick<DeadLetter, 'payload' | 'payloadEncoding'> {
  try {
    return { payload: utf8.decode(payload), payloadEncoding: 'utf8' };
  } catch {
    return { payload: Buffer.from(payload).toString('base64'), payloadEncoding: 'base64' };
  }
}

/**
 * Refused readings and points, kept on disk as one JSON line each in a file per UTC day.
 * Appends are fsynced (group commit) before the message they describe is acknowledged.
 */
export class DeadLetterStore {
  private readonly dir: string;
  private readonly maxBytes: number;
  private day = '';
  private fh?: FileHandle;
  private appender?: GroupCommitAppender;
  private bytes = 0;
  private opening?: Promise<void>;
  count = 0;

  constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      if (FILE_RE.test(name)) this.bytes += (await stat(join(this.dir, name))).size;
    }
  }

  async add(entry: Omit<DeadLetter, 'time'> & { time?: string }): Promise<void> {
    const time = entry.time ?? new Date().toISOString();
    let e: DeadLetter = { ...entry, time };
    if (this.bytes > this.maxBytes && e.payload !== undefined) {
      e = { ...e, payload: undefined, payloadEncoding: undefined, payloadOmitted: true };
    }
    const buf = Buffer.from(`${JSON.stringify(e)}\n`);
    const day = time.slice(0, 10);
    while (this.opening) await this.opening;
    if (day !== this.day || !this.appender) {
      this.opening = this.openDay(day).finally(() => { this.opening = undefined; });
      await this.opening;
    }
    this.bytes += buf.length;
    this.count++;
    await this.appender!.append(buf, true);
  }

  private async openDay(day: string): Promise<void> {
    if (this.day === day && this.appender) return;
    await this.appender?.drain();
    await this.fh?.close();
    const path = join(this.dir, `${day}.jsonl`);
    this.fh = await open(path, 'a+');
    const size = (await this.fh.stat()).size;
    this.appender = new GroupCommitAppender(this.fh, size, true, () => {});
    this.day = day;
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

/** Newest first. Reads the day files from the newest back until `limit` entries are found. */
export async function listDeadLetters(dir: string, opts: ListOptions = {}): Promise<DeadLetter[]> {
  const limit = opts.limit ?? 100;
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => FILE_RE.test(n)).sort().reverse();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: DeadLetter[] = [];
  for (const name of names) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n').filter(Boolean).reverse();
    for (const line of lines) {
      let e: DeadLetter;
      try {
        e = JSON.parse(line) as DeadLetter;
      } catch {
        continue; // a line cut by a crash mid-write
      }
      if (opts.deviceId && e.deviceId !== opts.deviceId) continue;
      if (opts.code && e.code !== opts.code) continue;
      out.push(e);
      if (out.length >= limit) return out;
    }
  }
  return out;
}
