import type { FileHandle } from 'node:fs/promises';

const CHUNK = 64 * 1024;
const NL = 0x0a;

/** A line of a file: its bytes (without the newline) and where it starts; `bytes` is null for a line over the limit. */
export interface Line {
  start: number;
  length: number;
  bytes: Buffer | null;
}

/**
 * The lines of the first `size` bytes of a file, from the last to the first, read in chunks
 * from the end: the newest entries of an append-only file come first and a reader that stops
 * early never touches the rest. Memory stays at one chunk plus one line; a line longer than
 * `maxLine` is passed over (its bytes null) without being gathered.
 */
export async function* linesBackward(fh: FileHandle, size: number, maxLine: number): AsyncGenerator<Line> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = size;
  let tail: Buffer[] = []; // the part of the current line read so far (later in the file), in file order
  let tailLen = 0;
  let tooLong = false;
  const line = (head: Buffer, start: number): Line => {
    const length = head.length + tailLen;
    const bytes = tooLong || length > maxLine ? null : tailLen === 0 ? head : Buffer.concat([head, ...tail], length);
    tail = [];
    tailLen = 0;
    tooLong = false;
    return { start, length, bytes };
  };
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    await readFully(fh, buf, len, pos);
    let end = len;
    while (end > 0) {
      const nl = buf.lastIndexOf(NL, end - 1);
      if (nl === -1) break;
      // The line after this newline; the consumer is done with it before the next read refills buf.
      if (nl + 1 < end || tailLen > 0 || tooLong) yield line(buf.subarray(nl + 1, end), pos + nl + 1);
      end = nl;
    }
    if (end > 0) {
      if (!tooLong && tailLen + end <= maxLine) {
        tail.unshift(Buffer.from(buf.subarray(0, end)));
        tailLen += end;
      } else {
        tooLong = true;
        tailLen += end;
        tail = [];
      }
    }
  }
  if (tailLen > 0 || tooLong) yield line(Buffer.alloc(0), 0);
}

/**
 * The lines of the first `size` bytes of a file, first to last, read in chunks. Same limits as
 * linesBackward; a last line without its newline (a write cut by a crash) is passed too.
 */
export async function* linesForward(fh: FileHandle, size: number, maxLine: number): AsyncGenerator<Line> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  let head: Buffer[] = []; // the part of the current line read so far, in file order
  let headLen = 0;
  let start = 0;
  let tooLong = false;
  const line = (rest: Buffer): Line => {
    const length = headLen + rest.length;
    const bytes = tooLong || length > maxLine ? null : headLen === 0 ? rest : Buffer.concat([...head, rest], length);
    const out = { start, length, bytes };
    head = [];
    headLen = 0;
    tooLong = false;
    return out;
  };
  while (pos < size) {
    const len = Math.min(CHUNK, size - pos);
    await readFully(fh, buf, len, pos);
    let from = 0;
    for (let nl = buf.indexOf(NL, from); nl !== -1 && nl < len; nl = buf.indexOf(NL, from)) {
      yield line(buf.subarray(from, nl));
      from = nl + 1;
      start = pos + from;
    }
    if (from < len) {
      if (!tooLong && headLen + len - from <= maxLine) head.push(Buffer.from(buf.subarray(from, len)));
      else {
        tooLong = true;
        head = [];
      }
      headLen += len - from;
    }
    pos += len;
  }
  if (headLen > 0 || tooLong) yield line(Buffer.alloc(0));
}

async function readFully(fh: FileHandle, buf: Buffer, len: number, pos: number): Promise<void> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) throw new Error(`file shorter than expected: ${pos + got} bytes`);
    got += bytesRead;
  }
}
