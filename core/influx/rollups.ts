import { allReadings } from '../../protocol/kinds/index.ts';
import type { CompiledReading } from '../../protocol/reading-def.ts';
import { ident, postQuery } from './influxql.ts';
import type { InfluxOptions } from './options.ts';

export const RAW_RP = 'raw';
export const ROLLUP_RP = 'rollup';
export const ROLLUP_INTERVALS = ['1h', '1d'] as const;
export type RollupInterval = (typeof ROLLUP_INTERVALS)[number];

/**
 * How far back each continuous query recomputes on every run: late readings (a device that
 * was offline, a gateway that drained its spool after an outage) still land in their bucket.
 */
const RESAMPLE: Record<RollupInterval, string> = { '1h': 'RESAMPLE EVERY 15m FOR 6h', '1d': 'RESAMPLE EVERY 1h FOR 2d' };

export interface Rollup {
  /** Continuous query name, e.g. rollup_washer_cycle_1h. */
  name: string;
  source: string;
  /** Measurement in the `rollup` retention policy, e.g. washer_cycle_1h. */
  measurement: string;
  interval: RollupInterval;
  /** The aggregates, without INTO/FROM/GROUP BY. */
  select: string;
}

/** A field that every reading of this type carries (required, not a tag): what `n` counts. */
export function countedField(r: CompiledReading): string {
  const tags = new Set(r.tags ?? []);
  const own = Object.keys(r.fields.shape).filter((f) => !tags.has(f));
  return own.find((f) => !r.fields.shape[f].safeParse(undefined).success) ?? own[0];
}

/**
 * The aggregates of one reading type, derived from its schema so a new device kind gets its
 * roll-ups with no edit here: `n` (readings in the bucket) and, for every numeric field,
 * `<field>_mean`, `_sum`, `_min` and `_max`. Tags are kept (GROUP BY *), so the boards filter
 * roll-ups by device, kind, model and program exactly as they filter raw data.
 */
export function rollupSelect(r: CompiledReading): string {
  const tags = new Set(r.tags ?? []);
  const own = Object.keys(r.fields.shape).filter((f) => !tags.has(f));
  const counted = countedField(r);
  const numeric = own.filter((f) => r.fieldTypes[f] === 'int' || r.fieldTypes[f] === 'float');
  const parts = [`count(${ident(counted)}) AS "n"`];
  for (const f of numeric) {
    for (const fn of ['mean', 'sum', 'min', 'max']) parts.push(`${fn}(${ident(f)}) AS ${ident(`${f}_${fn}`)}`);
  }
  return `SELECT ${parts.join(', ')}`;
}

export function rollups(): Rollup[] {
  return allReadings().flatMap((r) =>
    ROLLUP_INTERVALS.map((interval) => ({
      name: `rollup_${r.measurement}_${interval}`,
      source: r.measurement,
      measurement: `${r.measurement}_${interval}`,
      interval,
      select: rollupSelect(r),
    })),
  );
}

function intoFrom(db: string, r: Rollup): string {
  return `${r.select} INTO ${ident(db)}.${ident(ROLLUP_RP)}.${ident(r.measurement)} FROM ${ident(db)}.${ident(RAW_RP)}.${ident(r.source)}`;
}

export function continuousQuery(db: string, r: Rollup): string {
  return `CREATE CONTINUOUS QUERY ${ident(r.name)} ON ${ident(db)} ${RESAMPLE[r.interval]} BEGIN ${intoFrom(db, r)} GROUP BY time(${r.interval}), * END`;
}

/**
 * InfluxDB 1.x: the `rollup` retention policy and one continuous query per reading type and
 * interval. A continuous query whose text differs from ours (an older version of the
 * gateway, a changed schema) is replaced, so upgrades need no manual step.
 */
export async function ensureRollups(opts: InfluxOptions & { rollupRetentionDays?: number }): Promise<void> {
  const db = opts.database;
  const duration = `${(opts.rollupRetentionDays ?? 1_830) * 24}h`;
  const [rps] = await postQuery(opts, `SHOW RETENTION POLICIES ON ${ident(db)}`);
  const exists = rps.series?.[0]?.values.some((v) => v[0] === ROLLUP_RP);
  await postQuery(opts, `${exists ? 'ALTER' : 'CREATE'} RETENTION POLICY ${ident(ROLLUP_RP)} ON ${ident(db)} DURATION ${duration} REPLICATION 1`);
  const [cqs] = await postQuery(opts, 'SHOW CONTINUOUS QUERIES');
  const current = new Map<string, string>();
  for (const s of cqs.series ?? []) {
    if (s.name !== db) continue;
    for (const [name, query] of s.values ?? []) current.set(String(name), String(query));
  }
  for (const r of rollups()) {
    const want = continuousQuery(db, r);
    const have = current.get(r.name);
    // InfluxDB keeps the text with identifiers unquoted where it can.
    if (have !== undefined && have.replace(/"/g, '') === want.replace(/"/g, '')) continue;
    if (have !== undefined) await postQuery(opts, `DROP CONTINUOUS QUERY ${ident(r.name)} ON ${ident(db)}`);
    await postQuery(opts, want);
  }
}

export interface BackfillResult {
  measurement: string;
  written: number;
}

/**
 * Computes the roll-ups of [fromMs, toMs) from raw data now, as the continuous queries would
 * have: after importing history (simulator backfill, a restore) or an outage longer than the
 * resample window. Idempotent: a bucket computed twice overwrites itself.
 */
export async function backfillRollups(opts: InfluxOptions, fromMs: number, toMs: number, onProgress?: (r: BackfillResult) => void): Promise<BackfillResult[]> {
  const out: BackfillResult[] = [];
  for (const r of rollups()) {
    // Whole buckets only, or the partial first bucket would overwrite a complete one.
    const step = r.interval === '1h' ? 3_600_000 : 86_400_000;
    const from = Math.floor(fromMs / step) * step;
    const to = Math.ceil(toMs / step) * step;
    const [res] = await postQuery(opts, `${intoFrom(opts.database, r)} WHERE time >= ${from}ms AND time < ${to}ms GROUP BY time(${r.interval}), *`);
    const written = Number(res.series?.[0]?.values?.[0]?.[1] ?? 0);
    const item = { measurement: `${ROLLUP_RP}.${r.measurement}`, written };
    out.push(item);
    onProgress?.(item);
  }
  return out;
}
