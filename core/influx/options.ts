/** Where and how to reach InfluxDB: the `influx` config section as the storage layer reads it. */
export interface InfluxOptions {
  url: string;
  database: string;
  username?: string;
  password?: string;
  retentionDays: number;
  requestTimeoutMs: number;
}

export interface StoreOptions extends InfluxOptions {
  /** 1 (default), 2 or 3. */
  version?: number;
  token?: string;
  org?: string;
  bucket?: string;
  /** Hourly and daily roll-ups; on unless false. */
  rollups?: boolean;
  rollupRetentionDays?: number;
}

export type WriteResult =
  | { ok: true }
  | { ok: false; kind: 'refused'; status: number; error: string }
  | { ok: false; kind: 'missing-database'; status: number; error: string }
  | { ok: false; kind: 'retry'; status?: number; error: string; retryAfterMs?: number };
