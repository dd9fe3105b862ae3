export { Writer, type WriterOptions, type WriterStatus } from './writer.ts';
export { SpoolTakeover, type TakeoverOptions } from './takeover.ts';
