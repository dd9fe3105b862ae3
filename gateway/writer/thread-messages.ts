import type { DeadLetter } from '../deadletter/index.ts';
import type { SpoolStats, SpoolView } from '../spool/index.ts';
import type { WriterStatus } from './writer.ts';
import type { StoreOptions } from '../../core/influx/index.ts';

/** What the writer thread starts from (workerData). */
export interface ThreadInit {
  influx: StoreOptions;
  writer: { batchMaxLines: number; batchMaxBytes: number; retryMinMs: number; retryMaxMs: number; inFlight: number; lingerMs: number };
  committedOffset: number;
  view: SpoolView;
  stats: SpoolStats;
}

/** Main → thread. */
export type ToThread =
  | { t: 'data'; view: SpoolView; stats: SpoolStats }
  | { t: 'reply'; id: number; error?: string; kept?: boolean }
  | { t: 'stop'; deadlineMs: number };

/** The writer metrics the thread reports, applied to the gateway's registry by the main thread. */
export type ThreadMetric =
  | { m: 'writeLatency' | 'writeBatchLines' | 'pointsWritten'; v: number }
  | { m: 'writeRetries' | 'deadLettered'; labels: Record<string, string> };

/** Thread → main. */
export type FromThread =
  | { t: 'commit'; id: number; end: number; records: number }
  | { t: 'deadletter'; id: number; entry: Omit<DeadLetter, 'time'> }
  | { t: 'metric'; metric: ThreadMetric }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { t: 'status'; status: WriterStatus }
  | { t: 'stopped'; status: WriterStatus };
