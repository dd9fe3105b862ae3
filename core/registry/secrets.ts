import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Device secrets are 256-bit random tokens issued by the gateway, so guessing one is
 * hopeless whatever the hash cost; scrypt's cost factor is kept low (N=2^10) so that ten
 * thousand devices reconnecting after a restart do not queue for seconds. The parameters are
 * stored with each hash, so they can be raised without invalidating issued secrets.
 */
const N = 1024;
const R = 8;
const P = 1;
const KEYLEN = 32;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function derive(secret: Buffer | string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(secret, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time comparison of a presented secret against a stored hash. */
export async function verifySecret(secret: Buffer | string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, hash] = parts;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(secret, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A fixed hash to verify against for unknown ids, so that timing does not tell which ids exist. */
export const DUMMY_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(KEYLEN).toString('base64url')}`;

