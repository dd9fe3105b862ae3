import type { Logger } from 'pino';
import type { Metrics } from './index.ts';
import type { Spool } from '../spool/index.ts';
import { formatPoint, timeNs, type Point } from '../../core/influx/index.ts';

export const STATS_MEASUREMENT = 'gateway_stats';

export interface StatsReporterOptions {
  metrics: Metrics;
  spool: Spool;
  /** Tag value that tells gateway instances apart. */
  instance: string;
  intervalMs: number;
  /** Brings the on-demand gauges (spool depth, age) up to date. */
  refresh(): void;
  log?: Logger;
}

type Values = Array<{ value: number; labels: Partial<Record<string, string | number>> }>;

const sum = (v: Values) => v.reduce((n, x) => n + x.value, 0);
const int = (value: number) => ({ type: 'int' as const, value: Math.round(value) });
const float = (value: number) => ({ type: 'float' as const, value });

/**
 * Writes the gateway's own figures to InfluxDB as `gateway_stats`, so the boards show the
 * gateway's health next to the data it carries, with the one datasource they have. The points
 * go through the spool like readings: during an InfluxDB outage they wait and arrive later,
 * so the spool's growth during the outage can still be seen afterwards.
 *
 * Series: `instance` (counters as running totals, gauges, write latency of the interval);
 * `instance,reason` (readings and messages refused); `instance,kind,model` (devices connected).
 */
export class StatsReporter {
  private readonly options: StatsReporterOptions;
  private timer?: NodeJS.Timeout;
  private last?: { latencySum: number; latencyCount: number; buckets: Map<number, number> };
  private writing?: Promise<void>;

  constructor(opts: StatsReporterOptions) {
    this.options = opts;
  }

  start(): void {
    if (this.timer || this.options.intervalMs <= 0) return;
    this.timer = setInterval(() => {
      if (this.writing) return;
      this.writing = this.report().catch((err) => this.options.log?.warn({ err }, 'cannot spool gateway_stats')).finally(() => { this.writing = undefined; });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  /** The points of one report (exported for tests and for a final report at shutdown). */
  async points(now = Date.now()): Promise<Point[]> {
    const { metrics: m, spool, instance } = this.options;
    this.options.refresh();
    const s = spool.stats(now);
    const [latency, connected, byReason, byMessageReason, devices] = await Promise.all([
      m.writeLatency.get(), m.connected.get(), m.readingsRefused.get(), m.messagesRefused.get(), m.connectedDevices.get(),
    ]);
    const v = async (c: { get(): Promise<{ values: Values }> }) => sum((await c.get()).values as Values);
    const latencySum = latency.values.find((x) => x.metricName === 'ug_write_latency_seconds_sum')?.value ?? 0;
    const latencyCount = latency.values.find((x) => x.metricName === 'ug_write_latency_seconds_count')?.value ?? 0;
    const buckets = new Map(latency.values.filter((x) => x.metricName === 'ug_write_latency_seconds_bucket').map((x) => [Number(x.labels.le), x.value]));
    const fields: Point['fields'] = {
      readings_received: int(await v(m.readingsIn)),
      readings_refused: int(sum(byReason.values as Values)),
      messages_received: int(await v(m.messagesIn)),
      messages_refused: int(sum(byMessageReason.values as Values)),
      points_written: int(await v(m.pointsWritten)),
      deadlettered: int(await v(m.deadLettered)),
      write_retries: int(await v(m.writeRetries)),
      auth_failures: int(await v(m.authFailures)),
      spool_depth_records: int(s.depthRecords),
      spool_depth_bytes: int(s.depthBytes),
      spool_oldest_age_s: float(s.oldestAgeMs / 1000),
      backpressure: int(s.full ? 1 : 0),
      devices_connected: int(sum((connected.values as Values).filter((x) => x.labels.role === 'device'))),
      consumers_connected: int(sum((connected.values as Values).filter((x) => x.labels.role === 'consumer'))),
    };
    // Write latency of this interval: mean, and the 95th percentile's bucket bound.
    const prev = this.last;
    const dCount = latencyCount - (prev?.latencyCount ?? 0);
    if (dCount > 0) {
      fields.write_latency_mean_s = float((latencySum - (prev?.latencySum ?? 0)) / dCount);
      const bounds = [...buckets.keys()].sort((a, b) => a - b);
      const p95 = bounds.find((le) => (buckets.get(le)! - (prev?.buckets.get(le) ?? 0)) >= 0.95 * dCount);
      if (p95 !== undefined && Number.isFinite(p95)) fields.write_latency_p95_s = float(p95);
    }
    this.last = { latencySum, latencyCount, buckets };
    const time = timeNs(now, 0);
    const points: Point[] = [{ measurement: STATS_MEASUREMENT, tags: { instance }, fields, timeNs: time }];
    const reasons = new Map<string, number>();
    for (const x of [...byReason.values, ...byMessageReason.values] as Values) {
      const r = String(x.labels.reason);
      reasons.set(r, (reasons.get(r) ?? 0) + x.value);
    }
    for (const [reason, n] of reasons) {
      points.push({ measurement: STATS_MEASUREMENT, tags: { instance, reason }, fields: { refused: int(n) }, timeNs: time });
    }
    for (const x of devices.values as Values) {
      points.push({ measurement: STATS_MEASUREMENT, tags: { instance, kind: String(x.labels.kind), model: String(x.labels.model) }, fields: { connected: int(x.value) }, timeNs: time });
    }
    return points;
  }

  /** Appends one report to the spool (not fsynced: a lost report is replaced by the next). */
  async report(now = Date.now()): Promise<void> {
    const points = await this.points(now);
    await this.options.spool.append(Buffer.from(points.map(formatPoint).join('\n')), points.length, false, now);
  }
}
