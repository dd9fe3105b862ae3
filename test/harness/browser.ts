import { existsSync } from 'node:fs';
import { ensureDebianPackages } from '../../scripts/setup.mjs';

/** Debian's chromium, installed by the project's set-up when missing and it may. */
export const CHROMIUM = '/usr/bin/chromium';

export function ensureChromium(): string {
  if (!existsSync(CHROMIUM)) ensureDebianPackages(['chromium']);
  return CHROMIUM;
}
