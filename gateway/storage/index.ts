export { InfluxStore, type EraseResult } from './store.ts';
export type { StoreOptions } from './options.ts';
export type { InfluxOptions, WriteResult } from './influx-http.ts';
export { rollups, continuousQuery, countedField, ROLLUP_INTERVALS, RAW_RP, ROLLUP_RP, type Rollup, type BackfillResult } from './rollups.ts';
export { StatsReporter, type StatsReporterOptions } from './stats.ts';
export { eraseDevice, type EraseOptions, type EraseReport } from './erase.ts';
