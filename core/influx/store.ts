import type { InfluxStore } from './backend.ts';
import { InfluxV1 } from './influx-v1.ts';
import { InfluxV2 } from './influx-v2.ts';
import type { StoreOptions } from './options.ts';

/** The InfluxDB layer for `influx.version`: 1.x, or 2.x and 3.x (one implementation, told apart inside). */
export function createInfluxStore(opts: StoreOptions): InfluxStore {
  return (opts.version ?? 1) >= 2 ? new InfluxV2(opts) : new InfluxV1(opts);
}
