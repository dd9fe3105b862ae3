import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import type { Catalogue } from '../protocol/models.ts';
import { parseDateOrTime } from '../protocol/time.ts';
import { dayFloor, DEFAULT_MIX, parseMix, planFleet, type Fleet } from './fleet.ts';
import { readFleetFile } from './manifest.ts';

/** Command-line values, checked once with a clear message and a stable code. */
export function usage(message: string): UsageGatewayError {
  return new UsageGatewayError('GW_ERR_USAGE', message);
}

export function number(name: string, raw: string | undefined, o: { min?: number; max?: number; int?: boolean; fallback?: number } = {}): number {
  if (raw === undefined) {
    if (o.fallback === undefined) throw usage(`${name} is required`);
    return o.fallback;
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (o.int && !Number.isInteger(v))) throw usage(`${name} must be ${o.int ? 'a whole number' : 'a number'}, got "${raw}"`);
  if (o.min !== undefined && v < o.min) throw usage(`${name} must be at least ${o.min}, got ${raw}`);
  if (o.max !== undefined && v > o.max) throw usage(`${name} must be at most ${o.max}, got ${raw}`);
  return v;
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--until`, `--since`, `--epoch`: an RFC 3339 time, a date, `now`, or a time before now as
 * `now-90m`, `now-6h`, `now-14d` (the notation of Grafana's time picker).
 */
export function time(name: string, raw: string | undefined, fallback: number, now = Date.now()): number {
  if (raw === undefined) return fallback;
  if (raw === 'now') return now;
  const rel = /^now-(\d+(?:\.\d+)?)([smhd])$/.exec(raw);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  const t = parseDateOrTime(raw);
  if (t.ok) return t.ms;
  // Something shaped like a date or time gets the parser's reason ("February 2026 has 28 days…").
  const why = /^\d{4}-\d{2}-\d{2}/.test(raw) ? `: ${t.reason}` : `, got "${raw}"`;
  throw usage(`${name} must be a time such as 2025-03-10, 2025-03-10T12:00:00Z or now-6h${why}`);
}

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
