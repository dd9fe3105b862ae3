export { Spool, type SpoolOptions, type SpoolRecord, type SpoolStats } from './spool.ts';
export { readRecords, type ReadableSegment, type SpoolView } from './read.ts';
