import type { InfluxOptions } from './influx-v1.ts';

/** The `influx` config section as the storage layer reads it. */
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
