export { Writer, type WriterOptions, type WriterStatus } from './writer.ts';
export { WriterThread, type WriterThreadOptions } from './threaded.ts';
export { SpoolTakeover, type TakeoverOptions } from './takeover.ts';
