import { UsageGatewayError } from '../../protocol/errors.ts';
import { InfluxStore as Influx1Store, type WriteResult } from './influx-http.ts';
import { Influx2Store } from './influx-v2.ts';
import { ident, literal, postQuery } from './influxql.ts';
import type { StoreOptions } from './options.ts';
import { backfillRollups, ensureRollups, RAW_RP, ROLLUP_RP, type BackfillResult } from './rollups.ts';

export interface EraseResult {
  deviceId: string;
  /** Series (measurement + tag set) the device had, in every retention policy. */
  series: number;
  /** Points counted before the erasure, per `rp.measurement`. */
  points: Record<string, number>;
}

/**
 * The gateway's view of InfluxDB, whatever its version: write line protocol, query InfluxQL,
 * set up the database (retention, roll-ups), erase a device. `influx.version` picks the
 * implementation; the writer and everyone else see one interface.
 */
export class InfluxStore {
  readonly opts: StoreOptions;
  private readonly impl: Influx1Store | Influx2Store;

  constructor(opts: StoreOptions) {
    this.opts = opts;
    this.impl = (opts.version ?? 1) >= 2 ? new Influx2Store(opts) : new Influx1Store(opts);
  }

  get version(): number {
    return this.opts.version ?? 1;
  }

  ping(): Promise<boolean> {
    return this.impl.ping();
  }

  /** Database (bucket), raw retention and, on 1.x, the roll-up continuous queries. */
  async ensureDatabase(): Promise<void> {
    await this.impl.ensureDatabase();
    if (this.version === 1 && this.opts.rollups !== false) await ensureRollups(this.opts);
  }

  write(body: string): Promise<WriteResult> {
    return this.impl.write(body);
  }

  /** InfluxQL; rows of the first statement (tags of GROUP BY merged into each row). */
  query<T = Record<string, unknown>>(q: string): Promise<T[]> {
    return this.impl.query<T>(q);
  }

  /** Computes the roll-ups of a time range from raw data (1.x; 2.x and 3.x run no SELECT INTO). */
  backfillRollups(fromMs: number, toMs: number, onProgress?: (r: BackfillResult) => void): Promise<BackfillResult[]> {
    if (this.version !== 1) throw new UsageGatewayError('GW_ERR_USAGE', `roll-ups are computed by InfluxDB ${this.version}.x itself (see docs/operations.md), not by the gateway`);
    return backfillRollups(this.opts, fromMs, toMs, onProgress);
  }

  /** Points of one device per `rp.measurement`, raw data and roll-ups. */
  async devicePoints(deviceId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const rp of [RAW_RP, ROLLUP_RP]) {
      let rows: Array<Record<string, unknown>>;
      try {
        rows = await this.rawQuery(`SELECT count(*) FROM ${ident(rp)}./.*/ WHERE "device_id" = ${literal(deviceId)}`);
      } catch (err) {
        if (/retention policy not found/i.test((err as Error).message)) continue;
        throw err;
      }
      for (const row of rows) {
        const n = Math.max(0, ...Object.entries(row).filter(([k]) => k.startsWith('count')).map(([, v]) => Number(v) || 0));
        if (n > 0) out[`${rp}.${String(row.name)}`] = n;
      }
    }
    return out;
  }

  /**
   * Deletes the points of one device in one measurement within [fromMs, toMs): the trigger
   * points of an owner erased after the device was sold on, which must go while the new
   * owner's stay.
   */
  async eraseDeviceRange(deviceId: string, measurement: string, fromMs: number, toMs: number): Promise<void> {
    if (this.version === 1) {
      await postQuery(this.opts, `DELETE FROM ${ident(measurement)} WHERE "device_id" = ${literal(deviceId)} AND time >= ${Math.floor(fromMs)}ms AND time < ${Math.ceil(toMs)}ms`);
    } else {
      await (this.impl as Influx2Store).eraseDeviceRange(deviceId, measurement, fromMs, toMs);
    }
  }

  /** Every series of the query's first statement as one row each, with its measurement `name`. */
  private async rawQuery(q: string): Promise<Array<Record<string, unknown>>> {
    // 2.x and 3.x take the token as the password of the v1-compatible API.
    const auth = this.version === 1 ? this.opts : { ...this.opts, username: this.opts.username ?? 'token', password: this.opts.token };
    const [res] = await postQuery(auth, q);
    return (res?.series ?? []).map((s) => ({ name: s.name, ...Object.fromEntries(s.columns.map((c, i) => [c, s.values[0]?.[i]])) }));
  }

  /**
   * Removes every point of one device from every measurement, raw and roll-up (a data
   * protection request), and checks that none is left.
   */
  async eraseDevice(deviceId: string): Promise<EraseResult> {
    const points = await this.devicePoints(deviceId);
    let series = 0;
    if (this.version === 1) {
      const [shown] = await postQuery(this.opts, `SHOW SERIES WHERE "device_id" = ${literal(deviceId)}`);
      series = shown?.series?.[0]?.values.length ?? 0;
      // Without FROM, DROP SERIES covers every measurement of every retention policy.
      await postQuery(this.opts, `DROP SERIES WHERE "device_id" = ${literal(deviceId)}`);
    } else {
      await (this.impl as Influx2Store).eraseDevice(deviceId);
      series = Object.keys(points).length;
    }
    let left = await this.devicePoints(deviceId);
    // A continuous query that read the raw points before the drop may write its roll-up just
    // after it. The raw points are gone, so no later run brings them back: drop again.
    for (let attempt = 0; attempt < 5 && Object.keys(left).length > 0 && this.version === 1; attempt++) {
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      await postQuery(this.opts, `DROP SERIES WHERE "device_id" = ${literal(deviceId)}`);
      left = await this.devicePoints(deviceId);
    }
    if (Object.keys(left).length > 0) {
      throw new UsageGatewayError('GW_ERR_ERASE_INCOMPLETE', `points of ${deviceId} are still stored after the erasure: ${JSON.stringify(left)}`, left);
    }
    return { deviceId, series, points };
  }
}
