import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.ts';
import type { InfluxStore } from '../../core/influx/index.ts';
import type { DeadLetterStore } from '../deadletter/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { Spool } from '../spool/index.ts';
import { Writer } from './writer.ts';

export interface TakeoverOptions {
  config: Readonly<ResolvedConfig>;
  store: InfluxStore;
  deadletter: DeadLetterStore;
  metrics: Metrics;
  log: Logger;
}

/**
 * A spool folder no running worker owns any more (the gateway now runs fewer workers than
 * it did): its own writer sends what it holds to InfluxDB, oldest first, and then lets it go.
 * Nothing is appended to it. Stopped with the gateway before it is empty, it keeps the rest
 * for the next start, which takes it over again.
 */
export class SpoolTakeover {
  private readonly spool: Spool;
  private readonly writer: Writer;
  private readonly log: Logger;
  private readonly dir: string;
  /** Resolves once the folder is written out and closed, or the takeover is stopped. */
  done: Promise<void> = Promise.resolve();
  /** Set by stop(): the deadline to stop writing within. */
  private deadlineMs?: number;
  private wake?: () => void;

  private constructor(dir: string, o: TakeoverOptions) {
    this.dir = dir;
    this.log = o.log.child({ spool: dir });
    const { maxBytes, segmentBytes, fsync } = o.config.spool;
    this.spool = new Spool({ dir, maxBytes, segmentBytes, fsync, log: this.log });
    this.writer = new Writer({ spool: this.spool, store: o.store, deadletter: o.deadletter, metrics: o.metrics, log: this.log, ...o.config.writer });
    // A takeover's writer shares the event loop: it only writes out what a former worker left.
  }

  /**
   * Takes over `dir` when it exists: resolves once its spool is open (so that /status lists it
   * before the gateway serves), and goes on writing it until it is empty or stopped.
   */
  static async start(dir: string, o: TakeoverOptions): Promise<SpoolTakeover | undefined> {
    if (!existsSync(dir)) return undefined;
    const t = new SpoolTakeover(dir, o);
    await t.spool.open();
    t.done = t.run().catch((err) => t.log.error({ err }, 'cannot take over the spool; it stays for the next start'));
    return t;
  }

  private async run(): Promise<void> {
    const { spool } = this;
    const left = spool.stats();
    if (left.depthBytes === 0) return spool.close();
    this.log.warn({ records: left.depthRecords, bytes: left.depthBytes }, 'took over a spool that no worker owns now; writing it to InfluxDB');
    this.writer.start();
    await new Promise<void>((resolve) => {
      const onSpace = () => {
        if (spool.committedOffset < spool.endOffset && this.deadlineMs === undefined) return;
        spool.off('space', onSpace);
        resolve();
      };
      this.wake = onSpace;
      spool.on('space', onSpace);
      onSpace();
    });
    await this.writer.stop(this.deadlineMs ?? 0);
    const rest = spool.stats();
    await spool.close();
    if (rest.depthBytes === 0) this.log.info({ records: left.depthRecords }, 'spool taken over and written out');
    else this.log.warn({ records: rest.depthRecords, bytes: rest.depthBytes }, 'gateway stopping: the spool taken over keeps the rest for the next start');
  }

  /** Stops writing within `deadlineMs`; what is left stays in the folder. */
  async stop(deadlineMs: number): Promise<void> {
    this.deadlineMs = deadlineMs;
    this.wake?.();
    await this.done;
  }

  /** The folder and how far it is written (offsets as the spool's own, for erasure to wait on). */
  stats(): { dir: string; committedOffset: number; endOffset: number } {
    return { dir: this.dir, committedOffset: this.spool.committedOffset, endOffset: this.spool.endOffset };
  }


  toString(): string {
    return this.dir;
  }
}
