import { InfluxDB } from 'influx';
import { parseRetryAfter } from '../retry.ts';

export interface InfluxOptions {
  url: string;
  database: string;
  username?: string;
  password?: string;
  retentionDays: number;
  requestTimeoutMs: number;
}

export type WriteResult =
  | { ok: true }
  | { ok: false; kind: 'refused'; status: number; error: string }
  | { ok: false; kind: 'missing-database'; status: number; error: string }
  | { ok: false; kind: 'retry'; status?: number; error: string; retryAfterMs?: number };

/**
 * InfluxDB 1.x: writes of ready-made line protocol over HTTP, and queries and set-up through
 * the `influx` client. The write path is our own because it must tell a refused point (400)
 * from an outage (5xx, 429 with Retry-After, no answer), which the client library hides.
 */
export class InfluxStore {
  readonly opts: InfluxOptions;
  readonly client: InfluxDB;
  private readonly writeUrl: string;
  private readonly authHeader?: string;

  constructor(opts: InfluxOptions) {
    this.opts = opts;
    const u = new URL(opts.url);
    this.client = new InfluxDB({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 8086)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: opts.database,
      username: opts.username,
      password: opts.password,
      options: { timeout: opts.requestTimeoutMs } as never,
    });
    const w = new URL('write', u.href.endsWith('/') ? u.href : `${u.href}/`);
    w.searchParams.set('db', opts.database);
    w.searchParams.set('precision', 'ns');
    this.writeUrl = w.href;
    if (opts.username) this.authHeader = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`;
  }

  async ping(): Promise<boolean> {
    try {
      const res = await fetch(new URL('ping', this.opts.url.endsWith('/') ? this.opts.url : `${this.opts.url}/`), { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status === 204 || res.ok;
    } catch {
      return false;
    }
  }

  /** Creates the database with the raw retention as its default policy, if missing. */
  async ensureDatabase(): Promise<void> {
    const db = this.opts.database;
    const names = await this.client.getDatabaseNames();
    if (!names.includes(db)) await this.client.createDatabase(db);
    const policies = await this.client.showRetentionPolicies(db);
    const duration = `${this.opts.retentionDays * 24}h`;
    if (!policies.some((p) => p.name === 'raw')) {
      await this.client.createRetentionPolicy('raw', { database: db, duration, replication: 1, isDefault: true });
    } else {
      await this.client.alterRetentionPolicy('raw', { database: db, duration, replication: 1, isDefault: true });
    }
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
    if (res.status === 404 && /database not found/i.test(error)) return { ok: false, kind: 'missing-database', status: 404, error };
    if (res.status === 400) return { ok: false, kind: 'refused', status: 400, error };
    return { ok: false, kind: 'retry', status: res.status, error: error || res.statusText, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
  }

  /** InfluxQL query; rows of the first statement. */
  async query<T = Record<string, unknown>>(q: string): Promise<T[]> {
    return (await this.client.query(q, { database: this.opts.database, precision: 'ms' as never })) as unknown as T[];
  }
}
