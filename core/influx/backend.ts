import { InfluxDB } from 'influx';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { InfluxServerError } from './errors.ts';
import { ident, literal, postQuery, type StatementResult } from './influxql.ts';
import type { InfluxOptions, StoreOptions, WriteResult } from './options.ts';
import { backfillRollups, RAW_RP, ROLLUP_RP, type BackfillResult } from './rollups.ts';

export interface EraseResult {
  deviceId: string;
  /** Series (measurement + tag set) the device had, in every retention policy. */
  series: number;
  /** Points counted before the erasure, per `rp.measurement`. */
  points: Record<string, number>;
}

/**
 * Everything the project asks of InfluxDB, whatever its version: write line protocol, query
 * InfluxQL, set up the database (retention, roll-ups), erase a device. `createInfluxStore`
 * picks the implementation from `influx.version`; callers see only this interface.
 */
export interface InfluxStore {
  readonly opts: StoreOptions;
  readonly version: number;
  ping(): Promise<boolean>;
  /** Database (bucket), raw retention and, where the server runs them, the roll-ups. */
  ensureDatabase(): Promise<void>;
  /** Line protocol, as text or as its UTF-8 bytes. */
  write(body: string | Buffer): Promise<WriteResult>;
  /** InfluxQL; rows of the first statement (tags of GROUP BY merged into each row). */
  query<T = Record<string, unknown>>(q: string): Promise<T[]>;
  /** InfluxQL; the first statement's series as InfluxDB sends them (columns and value arrays, times in ms): no object per row. */
  series(q: string): Promise<NonNullable<StatementResult['series']>>;
  /** Computes the roll-ups of a time range from raw data (1.x; 2.x and 3.x run no SELECT INTO). */
  backfillRollups(fromMs: number, toMs: number, onProgress?: (r: BackfillResult) => void): Promise<BackfillResult[]>;
  /** Points of one device per `rp.measurement`, raw data and roll-ups. */
  devicePoints(deviceId: string): Promise<Record<string, number>>;
  /** Removes every point of one device (a data-protection request) and checks none is left. */
  eraseDevice(deviceId: string): Promise<EraseResult>;
  /** Removes one device's points of one measurement within [fromMs, toMs). */
  eraseDeviceRange(deviceId: string, measurement: string, fromMs: number, toMs: number): Promise<void>;
}

/** What both implementations share: InfluxQL over the v1 `/query` API, point counts, the erasure check. */
export abstract class InfluxBase implements InfluxStore {
  readonly opts: StoreOptions;
  /** The v1 query API's address and credentials (2.x and 3.x take the token as the password). */
  protected readonly queryOpts: InfluxOptions;
  protected readonly queryClient: InfluxDB;

  constructor(opts: StoreOptions, queryOpts: InfluxOptions) {
    this.opts = opts;
    this.queryOpts = queryOpts;
    const u = new URL(opts.url);
    this.queryClient = new InfluxDB({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 8086)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: opts.database,
      username: queryOpts.username,
      password: queryOpts.password,
      options: { timeout: opts.requestTimeoutMs } as never,
    });
  }

  get version(): number {
    return this.opts.version ?? 1;
  }

  abstract ensureDatabase(): Promise<void>;
  abstract write(body: string | Buffer): Promise<WriteResult>;
  /** Deletes every point of the device; the check that none is left is shared. */
  protected abstract dropDevice(deviceId: string): Promise<number>;
  abstract eraseDeviceRange(deviceId: string, measurement: string, fromMs: number, toMs: number): Promise<void>;

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(new URL('ping', this.opts.url.endsWith('/') ? this.opts.url : `${this.opts.url}/`), { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status === 204 || res.ok;
    } catch {
      return false;
    }
  }

  async query<T = Record<string, unknown>>(q: string): Promise<T[]> {
    return (await this.queryClient.query(q, { database: this.opts.database, precision: 'ms' as never })) as unknown as T[];
  }

  async series(q: string): Promise<NonNullable<StatementResult['series']>> {
    const [res] = await this.statements(q);
    return res?.series ?? [];
  }

  /** Statements through POST /query (those that change data are refused over GET). */
  protected statements(q: string): Promise<StatementResult[]> {
    return postQuery(this.queryOpts, q);
  }

  backfillRollups(fromMs: number, toMs: number, onProgress?: (r: BackfillResult) => void): Promise<BackfillResult[]> {
    if (this.version !== 1) throw new UsageGatewayError('GW_ERR_USAGE', `roll-ups are computed by InfluxDB ${this.version}.x itself (see docs/operations.md), not by the gateway`);
    return backfillRollups(this.queryOpts, fromMs, toMs, onProgress);
  }

  async devicePoints(deviceId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const rp of [RAW_RP, ROLLUP_RP]) {
      let rows: Array<Record<string, unknown>>;
      try {
        rows = await this.seriesRows(`SELECT count(*) FROM ${ident(rp)}./.*/ WHERE "device_id" = ${literal(deviceId)}`);
      } catch (err) {
        if (err instanceof InfluxServerError && err.kind === 'retention-policy-missing') continue;
        throw err;
      }
      for (const row of rows) {
        const n = Math.max(0, ...Object.entries(row).filter(([k]) => k.startsWith('count')).map(([, v]) => Number(v) || 0));
        if (n > 0) out[`${rp}.${String(row.name)}`] = n;
      }
    }
    return out;
  }

  /** Every series of the query's first statement as one row each, with its measurement `name`. */
  private async seriesRows(q: string): Promise<Array<Record<string, unknown>>> {
    const [res] = await this.statements(q);
    return (res?.series ?? []).map((s) => ({ name: s.name, ...Object.fromEntries(s.columns.map((c, i) => [c, s.values[0]?.[i]])) }));
  }

  async eraseDevice(deviceId: string): Promise<EraseResult> {
    // `WHERE "device_id" = ''` matches every series without the tag: the gateway's own figures.
    if (deviceId === '') throw new UsageGatewayError('GW_ERR_INVALID_ARGUMENT', 'an empty device id names no device; nothing was erased');
    const points = await this.devicePoints(deviceId);
    const series = await this.dropDevice(deviceId);
    let left = await this.devicePoints(deviceId);
    // A continuous query that read the raw points before the drop may write its roll-up just
    // after it. The raw points are gone, so no later run brings them back: drop again.
    for (let attempt = 0; attempt < 5 && Object.keys(left).length > 0 && this.version === 1; attempt++) {
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      await this.dropDevice(deviceId);
      left = await this.devicePoints(deviceId);
    }
    if (Object.keys(left).length > 0) {
      throw new UsageGatewayError('GW_ERR_ERASE_INCOMPLETE', `points of ${deviceId} are still stored after the erasure: ${JSON.stringify(left)}`, left);
    }
    return { deviceId, series: series < 0 ? Object.keys(points).length : series, points };
  }
}
