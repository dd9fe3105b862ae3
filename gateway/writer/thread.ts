// The writer's own thread (see threaded.ts): reads the spool's segment files, writes to
// InfluxDB, and asks the main thread to move the cursor, keep refused points and count.
import { EventEmitter } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { createInfluxStore } from '../../core/influx/index.ts';
import { readRecords, type ReadableSegment, type SpoolStats, type SpoolView } from '../spool/index.ts';
import type { FromThread, ThreadInit, ThreadMetric, ToThread } from './thread-messages.ts';
import { Writer, type WriterDeadLetter, type WriterMetrics, type WriterOptions, type WriterSpool } from './writer.ts';

const port = parentPort!;
const init = workerData as ThreadInit;
const post = (m: FromThread) => port.postMessage(m);

let nextId = 0;
const waiting = new Map<number, { resolve: (kept: boolean) => void; reject: (err: Error) => void }>();
/** A request to the main thread, answered by a 'reply' with the same id. */
function ask(make: (id: number) => FromThread): Promise<boolean> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    post(make(id));
  });
}

/** The spool as the main thread last described it; reads go to the segment files directly. */
class RemoteSpool extends EventEmitter<{ data: [] }> {
  readonly committedOffset: number;
  private segments: ReadableSegment[] = [];
  private writtenEnd = 0;
  private lastStats: SpoolStats;

  constructor(start: ThreadInit) {
    super();
    this.committedOffset = start.committedOffset;
    this.lastStats = start.stats;
    this.update(start.view, start.stats);
  }

  get endOffset(): number {
    return this.writtenEnd;
  }

  /** New segments and written end; handles of segments the main thread dropped are closed. */
  update(view: SpoolView, stats: SpoolStats): void {
    const old = new Map(this.segments.map((s) => [s.path, s]));
    this.segments = view.segments.map((s) => {
      const kept = old.get(s.path);
      if (!kept) return { ...s };
      old.delete(s.path);
      kept.end = s.end;
      return kept;
    });
    for (const gone of old.values()) void gone.reader?.close().catch(() => {});
    this.writtenEnd = view.writtenEnd;
    this.lastStats = stats;
    this.emit('data');
  }

  read(from: number, maxLines: number, maxBytes: number) {
    return readRecords(this.segments, this.writtenEnd, from, maxLines, maxBytes);
  }

  async commit(end: number, records: number): Promise<void> {
    await ask((id) => ({ t: 'commit', id, end, records }));
  }

  stats(): SpoolStats {
    return this.lastStats;
  }

  async close(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.reader?.close().catch(() => {})));
  }
}

const metric = (m: ThreadMetric) => post({ t: 'metric', metric: m });
const metrics = {
  writeLatency: { observe: (v: number) => metric({ m: 'writeLatency', v }) },
  writeBatchLines: { observe: (v: number) => metric({ m: 'writeBatchLines', v }) },
  pointsWritten: { inc: (v = 1) => metric({ m: 'pointsWritten', v }) },
  writeRetries: { inc: (labels: Record<string, string>) => metric({ m: 'writeRetries', labels }) },
  deadLettered: { inc: (labels: Record<string, string>) => metric({ m: 'deadLettered', labels }) },
} as unknown as WriterMetrics;

const deadletter: WriterDeadLetter = {
  add: (entry) => ask((id) => ({ t: 'deadletter', id, entry })),
};

/** Log lines go to the main thread's logger, which knows the destination and the level. */
const logAt = (level: 'info' | 'warn' | 'error') => (obj: unknown, msg?: string) => {
  const fields: Record<string, unknown> = typeof obj === 'object' && obj !== null ? { ...(obj as Record<string, unknown>) } : { text: String(obj) };
  const err = fields.err;
  if (err instanceof Error) fields.err = { type: err.name, message: err.message, stack: err.stack };
  post({ t: 'log', level, obj: fields, msg: msg ?? '' });
};
const log = { info: logAt('info'), warn: logAt('warn'), error: logAt('error') } as unknown as WriterOptions['log'];

const spool = new RemoteSpool(init);
const writer = new Writer({
  spool: spool as unknown as WriterSpool, store: createInfluxStore(init.influx), deadletter, metrics, log, ...init.writer,
});
// The writer's status for /status, sent as it changes (at most every 200 ms).
let lastStatus = '';
const reportStatus = setInterval(() => {
  const s = JSON.stringify(writer.status());
  if (s === lastStatus) return;
  lastStatus = s;
  post({ t: 'status', status: writer.status() });
}, 200);

port.on('message', (m: ToThread) => {
  if (m.t === 'data') spool.update(m.view, m.stats);
  else if (m.t === 'reply') {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(m.error));
    else w?.resolve(m.kept ?? true);
  } else if (m.t === 'stop') {
    void writer.stop(m.deadlineMs).then(async () => {
      clearInterval(reportStatus);
      await spool.close();
      post({ t: 'stopped', status: writer.status() });
      port.close();
    });
  }
});
writer.start();
