export { createInfluxStore } from './store.ts';
export type { InfluxStore, EraseResult } from './backend.ts';
export type { InfluxOptions, StoreOptions, WriteResult } from './options.ts';
export { InfluxServerError, classifyInfluxError, type InfluxErrorKind } from './errors.ts';
export { ident, literal, postQuery, type StatementResult } from './influxql.ts';
export { rollups, continuousQuery, countedField, ROLLUP_INTERVALS, RAW_RP, ROLLUP_RP, type Rollup, type BackfillResult } from './rollups.ts';
export { readingsToLines, type DeviceTags } from './points.ts';
export { formatPoint, formatField, splitLines, timeNs, escMeasurement, escTag, escString, type Point } from './line-protocol.ts';
export { FEATURE_LAYER, isLate, LATE_AFTER_MS, lateMarkerLine } from './feature-layer.ts';
