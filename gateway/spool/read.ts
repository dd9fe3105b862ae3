import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

/** Record header: u32 payload length | u32 crc32 | f64 append time | u32 lines (spool.ts). */
export const HEADER = 20;

export interface SpoolRecord {
  /** Global byte offset of the record, and of the byte after it. */
  offset: number;
  end: number;
  timeMs: number;
  lines: number;
  payload: Buffer;
}

/** A segment file: its first global offset, the offset after its last valid record, a read handle once opened. */
export interface ReadableSegment {
  base: number;
  end: number;
  path: string;
  reader?: FileHandle;
}

/** What a reader elsewhere (the writer's thread) needs to read a spool: its segments and written end. */
export interface SpoolView {
  segments: Array<{ base: number; end: number; path: string }>;
  writtenEnd: number;
}

/**
 * Reads records from `from` (a record boundary) up to `writtenEnd`, at most `maxLines`
 * lines and `maxBytes` payload bytes, always at least one record when one is there.
 */
export async function readRecords(segments: ReadableSegment[], writtenEnd: number, from: number, maxLines: number, maxBytes: number): Promise<SpoolRecord[]> {
  const out: SpoolRecord[] = [];
  let pos = from;
  let lines = 0;
  let bytes = 0;
  while (pos < writtenEnd) {
    const seg = segments.find((s) => pos >= s.base && pos < s.end);
    if (!seg) {
      const next = segments.find((s) => s.base >= pos && s.end > s.base);
      if (!next) break;
      pos = next.base; // past a sealed segment's end: go on at the next one
      continue;
    }
    seg.reader ??= await open(seg.path, 'r');
    const limit = Math.min(seg.end, writtenEnd) - seg.base;
    const chunk = Math.min(limit - (pos - seg.base), Math.max(maxBytes - bytes, HEADER) + HEADER * 64, 8 * 1024 * 1024);
    const buf = Buffer.allocUnsafe(chunk);
    const { bytesRead } = await seg.reader.read(buf, 0, chunk, pos - seg.base);
    let off = 0;
    while (off + HEADER <= bytesRead) {
      const len = buf.readUInt32LE(off);
      const recLines = buf.readUInt32LE(off + 16);
      if (off + HEADER + len > bytesRead) break;
      if (out.length > 0 && (lines + recLines > maxLines || bytes + len > maxBytes)) return out;
      out.push({
        offset: pos + off,
        end: pos + off + HEADER + len,
        timeMs: buf.readDoubleLE(off + 8),
        lines: recLines,
        payload: Buffer.from(buf.subarray(off + HEADER, off + HEADER + len)),
      });
      lines += recLines;
      bytes += len;
      off += HEADER + len;
    }
    if (off === 0) {
      // a record bigger than the chunk: read exactly it, if the caps leave room for it
      const len = buf.readUInt32LE(0);
      if (out.length > 0 && (lines + buf.readUInt32LE(16) > maxLines || bytes + len > maxBytes)) return out;
      const whole = Buffer.allocUnsafe(HEADER + len);
      await seg.reader.read(whole, 0, HEADER + len, pos - seg.base);
      out.push({ offset: pos, end: pos + HEADER + len, timeMs: whole.readDoubleLE(8), lines: whole.readUInt32LE(16), payload: whole.subarray(HEADER) });
      return out;
    }
    pos += off;
    if (lines >= maxLines || bytes >= maxBytes) break;
  }
  return out;
}

