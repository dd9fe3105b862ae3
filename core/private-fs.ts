import { chmodSync, mkdirSync } from 'node:fs';
import { chmod, mkdir, open, type FileHandle } from 'node:fs/promises';

/**
 * Files that hold owner data (raw payloads, readings, triggers about owners) are readable by
 * the gateway's own user only: files 0600 in folders 0700, whatever the umask. The mode is
 * given when a file or folder is made (so it is never wider, even for a moment) and set again
 * afterwards (a umask can only narrow it, and a folder or file left by an older version may
 * be wider).
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

function notOurs(err: unknown): boolean {
  // A folder the operator made for us and owns: its mode is theirs to choose.
  return (err as NodeJS.ErrnoException).code === 'EPERM';
}

/** Makes a folder (and missing parents) 0700, or narrows one that is there. */
export async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    await chmod(dir, PRIVATE_DIR_MODE);
  } catch (err) {
    if (!notOurs(err)) throw err;
  }
}

export function privateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  try {
    chmodSync(dir, PRIVATE_DIR_MODE);
  } catch (err) {
    if (!notOurs(err)) throw err;
  }
}

/** Opens (and maybe creates) a file readable and writable by its owner only. */
export async function openPrivate(path: string, flags: string): Promise<FileHandle> {
  const fh = await open(path, flags, PRIVATE_FILE_MODE);
  try {
    await fh.chmod(PRIVATE_FILE_MODE);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

/** Narrows a file that is there to 0600. */
export async function privateFile(path: string): Promise<void> {
  await chmod(path, PRIVATE_FILE_MODE);
}

export function privateFileSync(path: string): void {
  chmodSync(path, PRIVATE_FILE_MODE);
}
