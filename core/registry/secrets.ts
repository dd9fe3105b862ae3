import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { sha256 } from '../hash.ts';

/**
 * Device and consumer secrets are 256-bit random tokens made by the gateway (`newSecret`); no
 * person chooses one. Guessing such a token is hopeless, and so is inverting its SHA-256: a
 * slow password hash (scrypt, bcrypt) protects nothing here that a fast one does not, and it
 * would cost milliseconds of CPU per connection, an hour of CPU for a million devices
 * reconnecting after a restart. So the registry keeps `sha256$<digest>` (base64url), verified
 * in constant time. Registries written before keep `scrypt$N$r$p$salt$hash` entries: they
 * still verify, and the registry stores the fast form at the next successful login
 * (`needsRehash`). Failed logins are throttled per address by the broker, so a fast check is
 * no oracle either.
 */
const SHA256 = 'sha256';
const SCRYPT = 'scrypt';
const KEYLEN = 32;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored form of a secret the gateway made. */
export function hashSecret(secret: Buffer | string): string {
  return `${SHA256}$${sha256(secret).toString('base64url')}`;
}

/** Constant-time comparison of a presented secret against a stored hash (either form). */
export async function verifySecret(secret: Buffer | string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts[0] === SHA256 && parts.length === 2) return same(sha256(secret), Buffer.from(parts[1], 'base64url'));
  if (parts[0] === SCRYPT && parts.length === 6) {
    const [, n, r, p, salt, hash] = parts;
    return same(await scryptKey(secret, Buffer.from(salt, 'base64url'), Number(n), Number(r), Number(p)), Buffer.from(hash, 'base64url'));
  }
  return false;
}

/** A stored hash of an older form, to be replaced once the secret is known (a successful login). */
export function needsRehash(stored: string): boolean {
  return !stored.startsWith(`${SHA256}$`);
}

/** A fixed hash to verify against for unknown ids, so that timing does not tell which ids exist. */
export const DUMMY_HASH = `${SHA256}$${Buffer.alloc(KEYLEN).toString('base64url')}`;

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** scrypt, for the hashes of registries written before the fast form (verification only). */
function scryptKey(secret: Buffer | string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}
