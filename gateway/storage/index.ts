export { InfluxStore, type InfluxOptions, type WriteResult } from './influx-http.ts';
