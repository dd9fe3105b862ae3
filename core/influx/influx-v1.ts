import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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
  private readonly request: typeof httpRequest;
  private readonly agent: HttpAgent;

  constructor(opts: StoreOptions) {
    super(opts, opts);
    const u = new URL(opts.url);
    const w = new URL('write', u.href.endsWith('/') ? u.href : `${u.href}/`);
    w.searchParams.set('db', opts.database);
    w.searchParams.set('precision', 'ns');
    this.writeUrl = w.href;
    const https = w.protocol === 'https:';
    this.request = https ? httpsRequest : httpRequest;
    this.agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
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

  /**
   * One POST of line protocol. Over node:http with a keep-alive agent, not fetch: the body goes
   * out as the bytes it is (the writer hands the spool's bytes over without decoding them), and
   * a write costs a fraction of fetch's CPU and garbage, which the writer pays once per batch.
   */
  write(body: string | Buffer): Promise<WriteResult> {
    return new Promise((resolve) => {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      const req = this.request(this.writeUrl, {
        method: 'POST',
        agent: this.agent,
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': bytes.length, ...(this.authHeader ? { authorization: this.authHeader } : {}) },
      }, (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ ok: false, kind: 'retry', status, error: err.message }));
        res.on('end', () => resolve(this.result(status, Buffer.concat(chunks).toString('utf8'), res.headers['retry-after'], res.statusMessage)));
      });
      req.on('error', (err: Error & { code?: string }) => resolve({ ok: false, kind: 'retry', error: err.name === 'AbortError' ? `no answer within ${this.opts.requestTimeoutMs} ms` : err.code ?? err.message }));
      req.end(bytes);
    });
  }

  private result(status: number, text: string, retryAfter: string | string[] | undefined, statusText = ''): WriteResult {
    if (status === 204 || status === 200) return { ok: true };
    let error = text;
    try {
      error = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch { /* plain text body */ }
    const kind = classifyInfluxError(status, error);
    if (kind === 'database-not-found') return { ok: false, kind: 'missing-database', status, error };
    if (status === 400) return { ok: false, kind: 'refused', status: 400, error };
    return { ok: false, kind: 'retry', status, error: error || statusText, retryAfterMs: parseRetryAfter(retryAfter) };
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
