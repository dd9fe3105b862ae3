import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { DeadLetterStore } from '../deadletter/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Spool } from '../spool/index.ts';
import { splitLines, type InfluxStore } from '../../core/influx/index.ts';

/** What the writer needs of a spool: reading from its cursor, moving it, and a 'data' event. */
export type WriterSpool = Pick<Spool, 'committedOffset' | 'endOffset' | 'read' | 'commit' | 'on' | 'off' | 'stats'>;
/** What the writer needs of the dead-letter store and the metrics. */
export type WriterDeadLetter = Pick<DeadLetterStore, 'add'>;
export type WriterMetrics = Pick<Metrics, 'writeLatency' | 'writeBatchLines' | 'pointsWritten' | 'writeRetries' | 'deadLettered'>;
export type WriterStore = Pick<InfluxStore, 'write' | 'ensureDatabase'>;
import { retryDelayMs } from '../../core/retry.ts';

export interface WriterOptions {
  spool: WriterSpool;
  store: WriterStore;
  deadletter: WriterDeadLetter;
  metrics: WriterMetrics;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  batchMaxLines: number;
  batchMaxBytes: number;
  /** Writes to InfluxDB at once; their spool commits stay in order. */
  inFlight: number;
  /** How long a batch that took all the spool holds waits, once, for more before it is written. */
  lingerMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface WriterStatus {
  connected: boolean;
  lastSuccessAt?: string;
  lastError?: string;
  consecutiveFailures: number;
  /** Duration of the last successful write, in milliseconds. */
  lastWriteMs?: number;
}

/** How long stop() waits past its deadline for a write already in flight to return. */
const IN_FLIGHT_GRACE_MS = 1_000;

class Stopped extends Error {}

const NEWLINE = Buffer.from('\n');

/**
 * Drains the spool to InfluxDB, oldest first. A batch goes out as soon as fewer than `inFlight`
 * writes are in flight; one that took everything the spool holds (so not full) first waits
 * `lingerMs` for more, so that at low load a write carries what arrived in that time, not one
 * reading (each write also costs a spool commit), and under load batches fill up to the caps.
 * The spool cursor moves only after InfluxDB answered 204 for that batch and every one before
 * it (commits in spool order, whatever order the writes end in); an outage is retried with backoff
 * and jitter while the spool grows; a refused batch is split until the refused points are
 * found, which go to the dead-letter store with InfluxDB's error.
 */
export class Writer {
  private readonly options: WriterOptions;
  private running = false;
  private draining = false;
  private readonly hardStop = new AbortController();
  private loop?: Promise<void>;
  private wake?: () => void;
  private cutLinger?: () => void;
  private readonly state: WriterStatus = { connected: false, consecutiveFailures: 0 };
  private lastWarnAt = 0;

  constructor(opts: WriterOptions) {
    this.options = opts;
  }

  status(): WriterStatus {
    return { ...this.state };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const onData = () => this.wake?.();
    this.options.spool.on('data', onData);
    this.loop = this.run().finally(() => this.options.spool.off('data', onData));
  }

  /** Writes what it can until the spool is empty or the deadline passes; the rest stays spooled. */
  async stop(deadlineMs: number): Promise<void> {
    if (!this.running) return;
    this.draining = true;
    this.wake?.();
    this.cutLinger?.();
    // A write in flight at the deadline is not waited for beyond a grace: its batch stays
    // spooled (the cursor no longer moves once the spool is closed) and is replayed next start.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.hardStop.abort();
        timer = setTimeout(resolve, IN_FLIGHT_GRACE_MS);
      }, deadlineMs);
    });
    try {
      await Promise.race([this.loop, deadline]);
    } finally {
      clearTimeout(timer);
      this.running = false;
    }
  }

  private async run(): Promise<void> {
    const { spool } = this.options;
    let pos = spool.committedOffset;
    // Batches written or being written, oldest first; each commits after the one before it.
    const inFlight = new Set<Promise<void>>();
    let lastCommit: Promise<void> = Promise.resolve();
    let failed: unknown;
    // The spool position a batch last lingered at: a batch lingers once, then goes out.
    let lingeredAt = -1;
    try {
      for (;;) {
        if (this.hardStop.signal.aborted) return;
        if (failed !== undefined) throw failed;
        while (inFlight.size >= Math.max(1, this.options.inFlight) && failed === undefined) await Promise.race(inFlight).catch(() => {});
        if (failed !== undefined) throw failed;
        const records = await spool.read(pos, this.options.batchMaxLines, this.options.batchMaxBytes);
        if (records.length === 0) {
          if (inFlight.size > 0) {
            await Promise.race(inFlight).catch(() => {});
            continue;
          }
          if (this.draining) return;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            if (spool.endOffset > pos) resolve();
          });
          this.wake = undefined;
          continue;
        }
        if (this.options.lingerMs > 0 && !this.draining && lingeredAt !== pos && records[records.length - 1].end >= spool.endOffset) {
          lingeredAt = pos;
          await this.linger();
          continue;
        }
        // One body for the write, as the spool holds it; split into lines only if InfluxDB refuses it.
        // Its points are the records' line counts, kept since the append: the body is not scanned
        // for them (a string field may hold a newline, so its '\n' are not a count of its points).
        let points = 0;
        for (const r of records) points += r.lines;
        // The spool's bytes as they are: decoded into text only if InfluxDB refuses the batch.
        const written = this.writeBody(records.length === 1 ? records[0].payload : Buffer.concat(records.flatMap((r, i) => (i === 0 ? [r.payload] : [NEWLINE, r.payload]))), points);
        const end = records[records.length - 1].end;
        const before = lastCommit;
        const committed: Promise<void> = Promise.all([written, before]).then(() => spool.commit(end, records.length));
        lastCommit = committed;
        const tracked = committed.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        // A failed write or commit ends the loop, at its next turn.
        tracked.catch((err: unknown) => {
          failed ??= err;
          this.wake?.();
        });
        pos = end;
      }
    } catch (err) {
      if (!(err instanceof Stopped)) {
        this.options.log.error({ err }, 'writer stopped on an unexpected error; the spool keeps the data for the next start');
      }
    }
  }

  /** Waits lingerMs, less if the writer is told to stop; leaves no timer or listener behind. */
  private linger(): Promise<void> {
    const { signal } = this.hardStop;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.cutLinger = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.options.lingerMs);
      signal.addEventListener('abort', done, { once: true });
      this.cutLinger = done;
    });
  }

  private writeLines(lines: string[]): Promise<void> {
    return this.writeBody(lines.join('\n'), lines.length, lines);
  }

  /**
   * Writes `body` (line protocol of `points` points, as text or UTF-8 bytes; `split` when already split), retrying until
   * InfluxDB takes it or refuses points. A body is split with splitLines, never on every '\n':
   * a newline inside a string field is part of its point.
   */
  private async writeBody(body: string | Buffer, points: number, split?: string[]): Promise<void> {
    const { store, metrics, log } = this.options;
    let attempt = 0;
    for (;;) {
      if (this.hardStop.signal.aborted) throw new Stopped();
      const started = performance.now();
      const res = await store.write(body);
      if (res.ok) {
        const ms = performance.now() - started;
        this.state.lastWriteMs = Math.round(ms * 10) / 10;
        metrics.writeLatency.observe(ms / 1000);
        metrics.writeBatchLines.observe(points);
        metrics.pointsWritten.inc(points);
        if (this.state.consecutiveFailures > 0) log.info({ failures: this.state.consecutiveFailures }, 'InfluxDB writes succeed again');
        Object.assign(this.state, { connected: true, lastSuccessAt: new Date().toISOString(), consecutiveFailures: 0, lastError: undefined });
        return;
      }
      if (res.kind === 'refused') {
        await this.isolate(split ?? splitLines(body.toString()), res.error);
        return;
      }
      const lines = res.status === 413 ? split ?? splitLines(body.toString()) : [];
      if (lines.length > 1) {
        // Body over InfluxDB's max-body-size: smaller writes, nothing refused yet.
        log.warn({ lines: lines.length }, 'InfluxDB found a write too large (413); splitting it');
        const mid = Math.ceil(lines.length / 2);
        await this.writeLines(lines.slice(0, mid));
        await this.writeLines(lines.slice(mid));
        return;
      }
      this.state.connected = false;
      this.state.consecutiveFailures++;
      this.state.lastError = res.status ? `HTTP ${res.status}: ${res.error}` : res.error;
      if (res.kind === 'missing-database') {
        metrics.writeRetries.inc({ cause: 'missing-database' });
        await store.ensureDatabase().catch((err) => log.warn({ err }, 'cannot create the InfluxDB database'));
      } else {
        metrics.writeRetries.inc({ cause: res.status ? String(res.status) : 'unreachable' });
      }
      // Retry-After is honoured, but never beyond retryMaxMs (core/retry.ts).
      const delay = retryDelayMs(attempt, { minMs: this.options.retryMinMs, maxMs: this.options.retryMaxMs }, res.kind === 'retry' ? res.retryAfterMs : undefined);
      attempt++;
      if (Date.now() - this.lastWarnAt > 30_000) {
        this.lastWarnAt = Date.now();
        log.warn({ error: this.state.lastError, retryInMs: Math.round(delay), spool: this.options.spool.stats() }, 'InfluxDB write failed; retrying, readings wait in the spool');
      }
      try {
        await sleep(delay, undefined, { signal: this.hardStop.signal });
      } catch {
        throw new Stopped();
      }
    }
  }

  /** Splits a refused batch in halves until the refused lines are alone, and dead-letters them. */
  private async isolate(lines: string[], error: string): Promise<void> {
    if (lines.length === 1) {
      const deviceId = /(?:^|,)device_id=((?:\\.|[^,\s\\])+)/.exec(lines[0])?.[1]?.replace(/\\(.)/g, '$1');
      if (await this.options.deadletter.add({ source: 'influx', code: 'GW_ERR_INFLUX_REFUSED', reason: error, deviceId, line: lines[0] })) this.options.metrics.deadLettered.inc({ source: 'influx' });
      this.options.log.warn({ deviceId, error, code: 'GW_ERR_INFLUX_REFUSED' }, 'InfluxDB refused a point; dead-lettered');
      return;
    }
    const mid = Math.ceil(lines.length / 2);
    await this.writeLines(lines.slice(0, mid));
    await this.writeLines(lines.slice(mid));
  }
}
