import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { linesForward } from './lines.ts';
import { MAX_LINE_BYTES, type DeadLetter } from './store.ts';

const FILE_RE = /^\d{4}-\d{2}-\d{2}\.jsonl$/;

function belongsTo(e: DeadLetter, deviceId: string): boolean {
  return e.deviceId === deviceId || (e.topic !== undefined && e.topic.startsWith(`devices/${deviceId}/`));
}

/**
 * Erases one device's dead-letter entries (they keep raw payloads: personal data) by
 * overwriting each of its lines with spaces, in place. The files keep their length, so a
 * running gateway that appends to today's file is not disturbed, and readers skip blank
 * lines. Returns how many entries were erased.
 */
export async function eraseDeadLetters(dir: string, deviceId: string): Promise<number> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => FILE_RE.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let erased = 0;
  for (const name of names) {
    const fh = await open(join(dir, name), 'r+');
    try {
      const size = (await fh.stat()).size;
      let changed = false;
      // Read forward in chunks; a line is overwritten where it lies, behind the read position.
      for await (const { start, length, bytes } of linesForward(fh, size, MAX_LINE_BYTES)) {
        if (bytes === null) continue;
        let e: DeadLetter;
        try {
          e = JSON.parse(bytes.toString('utf8')) as DeadLetter;
        } catch {
          continue; // blank (already erased) or torn
        }
        if (!belongsTo(e, deviceId)) continue;
        await fh.write(Buffer.alloc(length, 0x20), 0, length, start);
        changed = true;
        erased++;
      }
      if (changed) await fh.sync();
    } finally {
      await fh.close();
    }
  }
  return erased;
}
