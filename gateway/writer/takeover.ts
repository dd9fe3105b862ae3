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
  readonly done: Promise<void>;
  private stopped?: (deadlineMs: number) => void;

  private constructor(dir: string, o: TakeoverOptions) {
    this.dir = dir;
    this.log = o.log.child({ spool: dir });
    const { maxBytes, segmentBytes, fsync } = o.config.spool;
    this.spool = new Spool({ dir, maxBytes, segmentBytes, fsync, log: this.log });
    this.writer = new Writer({ spool: this.spool, store: o.store, deadletter: o.deadletter, metrics: o.metrics, log: this.log, ...o.config.writer });
    this.done = this.run().catch((err) => this.log.error({ err }, 'cannot take over the spool; it stays for the next start'));
  }

  /** Takes over `dir` when it exists; the returned takeover runs until it is empty or stopped. */
  static start(dir: string, o: TakeoverOptions): SpoolTakeover | undefined {
    return existsSync(dir) ? new SpoolTakeover(dir, o) : undefined;
  }

  private async run(): Promise<void> {
    const { spool } = this;
    await spool.open();
    const left = spool.stats();
    if (left.depthBytes === 0) return spool.close();
    this.log.warn({ records: left.depthRecords, bytes: left.depthBytes }, 'took over a spool that no worker owns now; writing it to InfluxDB');
    this.writer.start();
    const deadline = await new Promise<number | undefined>((resolve) => {
      this.stopped = resolve;
      const onSpace = () => {
        if (spool.committedOffset < spool.endOffset) return;
        spool.off('space', onSpace);
        resolve(undefined);
      };
      spool.on('space', onSpace);
    });
    await this.writer.stop(deadline ?? 0);
    const rest = spool.stats();
    await spool.close();
    if (rest.depthBytes === 0) this.log.info({ records: left.depthRecords }, 'spool taken over and written out');
    else this.log.warn({ records: rest.depthRecords, bytes: rest.depthBytes }, 'gateway stopping: the spool taken over keeps the rest for the next start');
  }

  /** The folder and how far it is written (offsets as the spool's own, for erasure to wait on). */
  stats(): { dir: string; committedOffset: number; endOffset: number } {
    return { dir: this.dir, committedOffset: this.spool.committedOffset, endOffset: this.spool.endOffset };
  }

  /** Stops writing within `deadlineMs`; what is left stays in the folder. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopped?.(deadlineMs);
    await this.done;
  }

  toString(): string {
    return this.dir;
  }
}
