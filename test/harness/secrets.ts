import { randomBytes, scryptSync } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

/** A secret's hash as registries stored them before the fast form (scrypt, N=2^10, r=8, p=1). */
export function scryptEraHash(secret: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(secret, salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Rewrites the stored hashes of the given ids (id → secret) in a registry file as an older gateway wrote them. */
export async function writeScryptEra(path: string, secrets: Map<string, string>): Promise<void> {
  const file = JSON.parse(await readFile(path, 'utf8'));
  for (const e of file.entries) if (secrets.has(e.id)) e.secretHash = scryptEraHash(secrets.get(e.id)!);
  await writeFile(path, JSON.stringify(file));
}

/** The hash a registry file holds for an id. */
export async function storedHash(path: string, id: string): Promise<string | undefined> {
  return JSON.parse(await readFile(path, 'utf8')).entries.find((e: { id: string }) => e.id === id)?.secretHash;
}
