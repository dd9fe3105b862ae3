import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { StoreOptions } from '../../core/influx/index.ts';
import type { DeadLetterStore } from '../deadletter/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Spool } from '../spool/index.ts';
import type { FromThread, ThreadInit, ToThread } from './thread-messages.ts';
import type { WriterStatus } from './writer.ts';

export interface WriterThreadOptions {
  spool: Spool;
  influx: StoreOptions;
  deadletter: DeadLetterStore;
  metrics: Metrics;
  log: Logger;
  writer: ThreadInit['writer'];
}

/** How long stop() waits past its deadline for the thread to say it stopped. */
const STOP_GRACE_MS = 2_000;
/** Delay before a thread that ended unexpectedly is started again. */
const RESTART_MS = 1_000;

/**
 * The thread's young generation (V8's new space), in MiB. The thread makes little garbage (a
 * batch's bytes go out as they were read) and, left to V8, takes as large a young generation as
 * the main thread (up to 48 MiB); under a burst that was a tenth of the gateway's RSS.
 */
export const THREAD_YOUNG_GENERATION_MB = 8;

const ENTRY = new URL('./thread-entry.mjs', import.meta.url);

/**
 * The writer (writer.ts) on its own thread, so that storing keeps pace while ingest keeps the
 * main event loop busy. The thread reads the spool's segment files itself and writes to
 * InfluxDB; the main thread, which owns the spool, moves the cursor when the thread asks
 * (after InfluxDB answered 204), keeps refused points in the dead-letter store, counts the
 * writes in the gateway's metrics and logs for it. Only offsets, counts and log lines cross
 * between the two; a record's bytes are read once, by the thread.
 */
export class WriterThread {
  private readonly options: WriterThreadOptions;
  private worker?: Worker;
  private state: WriterStatus = { connected: false, consecutiveFailures: 0 };
  private running = false;
  private stopping?: Promise<void>;
  private dataQueued = false;
  private restartTimer?: NodeJS.Timeout;
  private readonly onData = () => this.sendData();

  constructor(options: WriterThreadOptions) {
    this.options = options;
  }

  status(): WriterStatus {
    return { ...this.state };
  }

  /** The V8 limits the running thread has (its young generation among them); none while it is not running. */
  resourceLimits(): Worker['resourceLimits'] {
    return this.worker?.resourceLimits;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.spool.on('data', this.onData);
    this.spawn();
  }

  private spawn(): void {
    const { spool, log } = this.options;
    const init: ThreadInit = { influx: this.options.influx, writer: this.options.writer, committedOffset: spool.committedOffset, view: spool.view(), stats: spool.stats() };
    const worker = new Worker(ENTRY, { workerData: init, name: 'influx-writer', resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB } });
    this.worker = worker;
    worker.on('message', (m: FromThread) => void this.onMessage(worker, m));
    worker.on('error', (err) => log.error({ err }, 'the writer thread failed; the spool keeps the data'));
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (!this.running || this.stopping) return;
      log.error({ code }, `the writer thread ended unexpectedly; starting it again in ${RESTART_MS} ms (the spool keeps the data)`);
      this.restartTimer = setTimeout(() => {
        if (this.running && !this.stopping) this.spawn();
      }, RESTART_MS);
    });
  }

  private post(m: ToThread): void {
    this.worker?.postMessage(m);
  }

  /** The spool's new end, once per turn of the event loop however many groups were written. */
  private sendData(): void {
    if (this.dataQueued) return;
    this.dataQueued = true;
    setImmediate(() => {
      this.dataQueued = false;
      this.post({ t: 'data', view: this.options.spool.view(), stats: this.options.spool.stats() });
    });
  }

  private async onMessage(worker: Worker, m: FromThread): Promise<void> {
    const { spool, metrics, log, deadletter } = this.options;
    const reply = (r: Omit<Extract<ToThread, { t: 'reply' }>, 't'>) => worker.postMessage({ t: 'reply', ...r } satisfies ToThread);
    switch (m.t) {
      case 'commit':
        try {
          await spool.commit(m.end, m.records);
          reply({ id: m.id });
        } catch (err) {
          reply({ id: m.id, error: (err as Error).message });
        }
        return;
      case 'deadletter':
        try {
          reply({ id: m.id, kept: await deadletter.add(m.entry) });
        } catch (err) {
          reply({ id: m.id, error: (err as Error).message });
        }
        return;
      case 'metric': {
        const x = m.metric;
        if (x.m === 'writeRetries') metrics.writeRetries.inc(x.labels);
        else if (x.m === 'deadLettered') metrics.deadLettered.inc(x.labels);
        else if (x.m === 'pointsWritten') metrics.pointsWritten.inc(x.v);
        else if (x.m === 'writeLatency') metrics.writeLatency.observe(x.v);
        else if (x.m === 'writeBatchLines') metrics.writeBatchLines.observe(x.v);
        return;
      }
      case 'log':
        log[m.level](m.obj, m.msg);
        return;
      case 'status':
      case 'stopped':
        this.state = m.status;
        return;
    }
  }

  /** Writes what it can until the spool is empty or the deadline passes; the rest stays spooled. */
  stop(deadlineMs: number): Promise<void> {
    this.stopping ??= this.doStop(deadlineMs);
    return this.stopping;
  }

  private async doStop(deadlineMs: number): Promise<void> {
    clearTimeout(this.restartTimer);
    this.options.spool.off('data', this.onData);
    const worker = this.worker;
    if (!this.running || !worker) {
      this.running = false;
      return;
    }
    // The last 'data' first: what was appended just before the stop is written too.
    this.post({ t: 'data', view: this.options.spool.view(), stats: this.options.spool.stats() });
    this.post({ t: 'stop', deadlineMs });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs + STOP_GRACE_MS);
    });
    await Promise.race([new Promise<void>((resolve) => worker.once('exit', () => resolve())), late]);
    clearTimeout(timer);
    this.running = false;
    // A thread past its deadline and grace is ended; what it had not committed stays spooled.
    await worker.terminate();
  }
}
