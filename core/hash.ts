import { createHash } from 'node:crypto';

/**
 * FNV-1a, 32 bit, over a string's UTF-16 code units: a cheap, stable, non-cryptographic hash
 * (point-time tie breaks, simulator seeds). Not for anything an attacker may choose to collide.
 */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** SHA-256 of a secret or token: a fixed-length digest to compare in constant time or fingerprint. */
export function sha256(data: Buffer | string): Buffer {
  return createHash('sha256').update(data).digest();
}
