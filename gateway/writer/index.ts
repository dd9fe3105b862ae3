export { Writer, type WriterOptions, type WriterStatus } from './writer.ts';
