export { InfluxStore, type EraseResult } from './store.ts';
export type { StoreOptions } from './options.ts';
export type { InfluxOptions, WriteResult } from './influx-v1.ts';
export { rollups, continuousQuery, countedField, ROLLUP_INTERVALS, RAW_RP, ROLLUP_RP, type Rollup, type BackfillResult } from './rollups.ts';
export { readingsToLines, type DeviceTags } from './points.ts';
export { formatPoint, formatField, timeNs, escMeasurement, escTag, type Point } from './line-protocol.ts';
