import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeadLetter } from './store.ts';

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
      const buf = await fh.readFile();
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl !== -1; start = nl + 1, nl = buf.indexOf(10, start)) {
        let e: DeadLetter;
        try {
          e = JSON.parse(buf.subarray(start, nl).toString('utf8')) as DeadLetter;
        } catch {
          continue; // blank (already erased) or torn
        }
        if (!belongsTo(e, deviceId)) continue;
        await fh.write(Buffer.alloc(nl - start, 0x20), 0, nl - start, start);
        erased++;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
  return erased;
}
