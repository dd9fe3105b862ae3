import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A path's permission bits in octal, e.g. "600". */
export async function mode(p: string): Promise<string> {
  return ((await stat(p)).mode & 0o777).toString(8);
}

/**
 * A store with owner data: its folder and the parent it made are 0700, every file in it 0600.
 * Returns the file names, for the caller's own checks.
 */
export async function assertPrivateStore(dir: string, what: string): Promise<string[]> {
  const names = await readdir(dir);
  assert.equal(await mode(dir), '700', `${what}: its folder`);
  assert.equal(await mode(join(dir, '..')), '700', `${what}: a parent it made too`);
  for (const n of names) assert.equal(await mode(join(dir, n)), '600', `${what}: ${n}`);
  return names;
}
