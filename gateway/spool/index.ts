export { Spool, type SpoolOptions, type SpoolRecord, type SpoolStats } from './spool.ts';
