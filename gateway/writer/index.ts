export { Writer, type WriterOptions, type WriterStatus } from './writer.ts';
export { readingsToLines, readingToPoint, type DeviceTags } from './points.ts';
export { formatPoint, formatField, timeNs, type Point } from './line-protocol.ts';
