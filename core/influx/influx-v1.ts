import { parseRetryAfter } from '../retry.ts';
import { InfluxBase } from './backend.ts';
import { classifyInfluxError } from './errors.ts';
import { ident, literal } from './influxql.ts';
import type { StoreOptions, WriteResult } from './options.ts';
import { ensureRollups } from './rollups.ts';

/**
 * InfluxDB 1.x: writes of ready-made line protocol over HTTP, queries and set-up through the
 * `influx` client and InfluxQL. The write path is our own because it must tell a refused point
 * (400) from an outage (5xx, 429 with Retry-After, no answer), which the client library hides.
 */
export class InfluxV1 extends InfluxBase {
  private readonly writeUrl: string;
  private readonly authHeader?: string;

  constructor(opts: StoreOptions) {
    super(opts, opts);
    const u = new URL(opts.url);
    const w = new URL('write', u.href.endsWith('/') ? u.href : `${u.href}/`);
    w.searchParams.set('db', opts.database);
    w.searchParams.set('precision', 'ns');
    this.writeUrl = w.href;
    if (opts.username) this.authHeader = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`;
  }

  /** The database with the raw retention as its default policy, and the roll-up continuous queries. */
  async ensureDatabase(): Promise<void> {
    const db = this.opts.database;
    const names = await this.queryClient.getDatabaseNames();
    if (!names.includes(db)) await this.queryClient.createDatabase(db);
    const policies = await this.queryClient.showRetentionPolicies(db);
    const duration = `${this.opts.retentionDays * 24}h`;
    if (!policies.some((p) => p.name === 'raw')) {
      await this.queryClient.createRetentionPolicy('raw', { database: db, duration, replication: 1, isDefault: true });
    } else {
      await this.queryClient.alterRetentionPolicy('raw', { database: db, duration, replication: 1, isDefault: true });
    }
    if (this.opts.rollups !== false) await ensureRollups(this.opts);
  }

  async write(body: string): Promise<WriteResult> {
    let res: Response;
    try {
      res = await fetch(this.writeUrl, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8', ...(this.authHeader ? { authorization: this.authHeader } : {}) },
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { ok: false, kind: 'retry', error: e.cause?.code ?? e.message };
    }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    if (res.status === 204 || res.status === 200) return { ok: true };
    let error = text;
    try {
      error = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch { /* plain text body */ }
    const kind = classifyInfluxError(res.status, error);
    if (kind === 'database-not-found') return { ok: false, kind: 'missing-database', status: res.status, error };
    if (res.status === 400) return { ok: false, kind: 'refused', status: 400, error };
    return { ok: false, kind: 'retry', status: res.status, error: error || res.statusText, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
  }

  /** DROP SERIES without FROM covers every measurement of every retention policy. */
  protected async dropDevice(deviceId: string): Promise<number> {
    const [shown] = await this.statements(`SHOW SERIES WHERE "device_id" = ${literal(deviceId)}`);
    await this.statements(`DROP SERIES WHERE "device_id" = ${literal(deviceId)}`);
    return shown?.series?.[0]?.values.length ?? 0;
  }

  async eraseDeviceRange(deviceId: string, measurement: string, fromMs: number, toMs: number): Promise<void> {
    await this.statements(`DELETE FROM ${ident(measurement)} WHERE "device_id" = ${literal(deviceId)} AND time >= ${Math.floor(fromMs)}ms AND time < ${Math.ceil(toMs)}ms`);
  }
}
