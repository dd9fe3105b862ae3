import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import { numberOption as number, timeOption as time, usageError as usage } from '../core/cli-kit.ts';
import type { Catalogue } from '../protocol/models.ts';
import { dayFloor, DEFAULT_MIX, parseMix, planFleet, type Fleet } from './fleet.ts';
import { readFleetFile } from './manifest.ts';
import { DEFAULT_PROFILE, parseNoise, parseProfile } from './profile.ts';

/** Command-line values, checked once with a clear message and a stable code (the command kit's parsers). */
export { numberOption as number, timeOption as time, usageError as usage } from '../core/cli-kit.ts';

export function seedOf(raw: string | undefined, fallback: () => number): number {
  return raw === undefined ? fallback() : number('--seed', raw, { int: true, min: 0, max: 2 ** 31 - 1 });
}

export function simDir(config: Readonly<ResolvedConfig>): string {
  return join(config.dataDir, 'sim');
}

export interface FleetChoice {
  fleet?: string;
  devices?: string;
  mix?: string;
  seed?: string;
  epoch?: string;
  prefix?: string;
  profile?: string;
  noise?: string;
}

/**
 * The fleet a run works on: the provisioned one (fleet file, with secrets), or with
 * `--devices` one planned in memory (no secrets: only for `--out`).
 */
export async function chooseFleet(o: FleetChoice, config: Readonly<ResolvedConfig>, catalogue: Catalogue): Promise<{ fleet: Fleet; secrets: Map<string, string> | null; path: string | null }> {
  if (o.devices !== undefined) {
    const fleet = planFleet({
      seed: seedOf(o.seed, () => 1), devices: number('--devices', o.devices, { int: true, min: 1, max: 1_000_000 }),
      mix: o.mix ? parseMix(o.mix) : DEFAULT_MIX, epochMs: dayFloor(time('--epoch', o.epoch, Date.now())), catalogue, prefix: o.prefix,
      profile: o.profile ? parseProfile(o.profile) : DEFAULT_PROFILE, noise: o.noise ? parseNoise(o.noise) : undefined,
    });
    return { fleet, secrets: null, path: null };
  }
  const path = o.fleet ?? join(simDir(config), 'fleet.json');
  const p = await readFleetFile(path);
  return { fleet: p.fleet, secrets: p.secrets, path };
}

/** `x.jsonl` → `x.manifest.json`. */
export function manifestNextTo(out: string): string {
  return `${out.replace(/\.jsonl?$/, '')}.manifest.json`;
}

/**
 * Where a live (or bench) clock starts: `--since`, or by default so far back that `--speed`
 * catches up with now when the run ends (after 10 minutes without `--duration`).
 */
export function liveStart(speed: number, since: string | undefined, durationMs: number | undefined, now = Date.now()): number {
  const start = time('--since', since, now - Math.max(0, speed - 1) * (durationMs ?? 600_000), now);
  if (start > now) throw usage(`--since must not be in the future, got "${since}"`);
  return start;
}
