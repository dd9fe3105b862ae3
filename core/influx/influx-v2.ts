import { HttpError, InfluxDB, RequestTimedOutError } from '@influxdata/influxdb-client';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { parseRetryAfter } from '../retry.ts';
import { InfluxBase } from './backend.ts';
import type { StoreOptions, WriteResult } from './options.ts';

/** Everything after the last point: delete requests need an end time. */
const FAR_FUTURE = '2262-04-11T00:00:00Z';

interface Named {
  id: string;
  name: string;
}

/**
 * InfluxDB 2.x and 3.x. Writes go through `@influxdata/influxdb-client` to `/api/v2/write`
 * (which 3.x serves too, the bucket naming the 3.x database); queries are InfluxQL through the
 * v1-compatible `/query`, with the token as the password, so the boards and analytics use one
 * query language on every version. On 2.x a DBRP mapping routes `/query?db=…` to the bucket.
 */
export class InfluxV2 extends InfluxBase {
  readonly client: InfluxDB;
  private readonly bucket: string;

  constructor(opts: StoreOptions) {
    if (!opts.token) throw new UsageGatewayError('GW_ERR_CONFIG', `influx.token: InfluxDB ${opts.version}.x needs an API token`);
    // The v1-compatible query API takes the token as the password.
    super(opts, { ...opts, username: opts.username ?? 'token', password: opts.token });
    this.bucket = opts.bucket ?? opts.database;
    this.client = new InfluxDB({ url: opts.url, token: opts.token, timeout: opts.requestTimeoutMs });
  }

  get rollupBucket(): string {
    return `${this.bucket}_rollup`;
  }

  private writePath(bucket = this.bucket): string {
    const q = new URLSearchParams({ bucket, precision: 'ns' });
    if (this.opts.org) q.set('org', this.opts.org);
    return `/api/v2/write?${q}`;
  }

  /** A JSON call to the management API; rejects with HttpError on a non-2xx answer. */
  private api<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.client.transport.request(path, body === undefined ? '' : JSON.stringify(body), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
    }) as Promise<T>;
  }

  /**
   * 2.x: the bucket (raw retention) and its DBRP mapping `<database>/raw`, plus, with roll-ups,
   * the bucket `<bucket>_rollup` mapped as `<database>/rollup` so that the boards' InfluxQL
   * resolves on every version. 3.x creates a database on its first write; nothing to do.
   */
  async ensureDatabase(): Promise<void> {
    if (this.opts.version !== 2) return;
    const orgs = await this.api<{ orgs?: Named[] }>('GET', `/api/v2/orgs?${new URLSearchParams({ org: this.opts.org ?? '' })}`);
    const orgID = orgs.orgs?.[0]?.id;
    if (!orgID) throw new UsageGatewayError('GW_ERR_CONFIG', `influx.org: InfluxDB has no organization "${this.opts.org}"`);
    await this.ensureBucket(orgID, this.bucket, 'raw', this.opts.retentionDays, true);
    if (this.opts.rollups !== false) await this.ensureBucket(orgID, this.rollupBucket, 'rollup', this.opts.rollupRetentionDays ?? 1_830, false);
  }

  private async ensureBucket(orgID: string, name: string, rp: string, days: number, isDefault: boolean): Promise<void> {
    const found = await this.api<{ buckets?: Named[] }>('GET', `/api/v2/buckets?${new URLSearchParams({ orgID, name })}`);
    let bucketID = found.buckets?.find((b) => b.name === name)?.id;
    if (!bucketID) {
      const made = await this.api<Named>('POST', '/api/v2/buckets', { orgID, name, retentionRules: [{ type: 'expire', everySeconds: days * 86_400 }] });
      bucketID = made.id;
    }
    const maps = await this.api<{ content?: Array<{ bucketID: string; retention_policy: string }> }>(
      'GET', `/api/v2/dbrps?${new URLSearchParams({ orgID, db: this.opts.database, rp })}`,
    );
    if (!maps.content?.some((m) => m.bucketID === bucketID)) {
      await this.api('POST', '/api/v2/dbrps', { orgID, bucketID, database: this.opts.database, retention_policy: rp, default: isDefault });
    }
  }

  async write(body: string | Buffer): Promise<WriteResult> {
    try {
      // The client's transport sends a string as it is (anything else as JSON).
      await this.client.transport.request(this.writePath(), typeof body === 'string' ? body : body.toString('utf8'), { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' } });
      return { ok: true };
    } catch (err) {
      if (err instanceof HttpError) {
        const error = (err.json as { message?: string } | undefined)?.message ?? err.body ?? err.message;
        // 404: bucket (2.x) or database (3.x with creation off) missing; the writer calls ensureDatabase.
        if (err.statusCode === 404) return { ok: false, kind: 'missing-database', status: 404, error };
        // 400 malformed, 422 type conflict or outside retention, 413 too large: splitting isolates them.
        if (err.statusCode === 400 || err.statusCode === 422 || err.statusCode === 413) return { ok: false, kind: 'refused', status: err.statusCode, error };
        return { ok: false, kind: 'retry', status: err.statusCode, error, retryAfterMs: parseRetryAfter(err.headers?.['retry-after']) };
      }
      if (err instanceof RequestTimedOutError) return { ok: false, kind: 'retry', error: 'request timed out' };
      const e = err as Error & { code?: string };
      return { ok: false, kind: 'retry', error: e.code ?? e.message };
    }
  }

  /**
   * 2.x: the delete API with a `device_id` predicate, on the bucket and the roll-up bucket.
   * 3.x has no way to delete some rows of a table; erasure there means the operator deletes
   * the tables or the database, so this refuses rather than pretend. The delete API does not
   * say how many series it removed: -1 (the erasure then counts the measurements it saw).
   */
  protected async dropDevice(deviceId: string): Promise<number> {
    if (this.opts.version === 3) {
      throw new UsageGatewayError('GW_ERR_ERASE_UNSUPPORTED', 'InfluxDB 3.x cannot delete one device\'s rows; see "Erasing a device\'s data" in docs/operations.md');
    }
    const predicate = `device_id="${deviceId.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    for (const bucket of [this.bucket, ...(this.opts.rollups !== false ? [this.rollupBucket] : [])]) {
      const q = new URLSearchParams({ bucket });
      if (this.opts.org) q.set('org', this.opts.org);
      await this.api('POST', `/api/v2/delete?${q}`, { start: '1970-01-01T00:00:00Z', stop: FAR_FUTURE, predicate });
    }
    return -1;
  }

  /** 2.x: the points of one device in one measurement within [fromMs, toMs) of the bucket. */
  async eraseDeviceRange(deviceId: string, measurement: string, fromMs: number, toMs: number): Promise<void> {
    if (this.opts.version === 3) throw new UsageGatewayError('GW_ERR_ERASE_UNSUPPORTED', 'InfluxDB 3.x cannot delete some rows of a table; see "Erasing a device\'s data" in docs/operations.md');
    const esc = (v: string) => v.replace(/["\\]/g, (c) => `\\${c}`);
    const q = new URLSearchParams({ bucket: this.bucket });
    if (this.opts.org) q.set('org', this.opts.org);
    await this.api('POST', `/api/v2/delete?${q}`, { start: new Date(fromMs).toISOString(), stop: new Date(toMs).toISOString(), predicate: `_measurement="${esc(measurement)}" AND device_id="${esc(deviceId)}"` });
  }
}
