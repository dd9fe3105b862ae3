import { slice } from './stats.ts';
import type { DetectContext, FeatureSpec } from './types.ts';
import { USAGE } from './usage.ts';

/**
 * Is anybody home? A household that goes away leaves all of its devices unused at once: no
 * wash, no trip, and above all no fridge door opened (a household at home opens its fridge
 * every day, and the fridge keeps reporting while it is away). A quiet spell of one device
 * alone is that device's; a quiet spell of all of them is an absence.
 */

/** What household-aware detectors read of the owner's other devices: their use and their readings. */
export function householdFeatures(kind: string): FeatureSpec[] {
  const u = USAGE[kind];
  return u ? [u.usage, u.readings] : [];
}

export interface Presence {
  /** Per day of [from, to): none of the household's devices was used (the device itself included). */
  quiet: boolean[];
  /** Per day: within a quiet spell that other evidence shows to be an absence (see `presence`). */
  away: boolean[];
  /** The household's other devices with data in [from, to). */
  members: number;
  /** The household can tell an absence from a device's own silence: another device, or a fridge (which reports while nobody is home). */
  corroborated: boolean;
}

const used = (v: number | undefined) => v !== undefined && v > 0;

/**
 * Quiet days of the household over [from, to) and the absences among them: a quiet spell of 2
 * days or more while a fridge of the household kept reporting (its doors stayed shut), or of 3
 * days or more in a household of several devices that were all unused.
 */
export function presence(ctx: Pick<DetectContext<unknown>, 'device' | 'series' | 'household'>, from: number, to: number): Presence {
  const n = to - from;
  const all = [{ device: ctx.device, series: ctx.series }, ...ctx.household];
  const quiet = new Array<boolean>(n).fill(true);
  const fridgeReports = new Array<boolean>(n).fill(false);
  let members = 0;
  for (const m of all) {
    const u = USAGE[m.device.kind];
    if (!u) continue;
    const use = m.series.daily.get(u.usage.name);
    const readings = m.series.daily.get(u.readings.name);
    if (!use || !readings) continue;
    const usedDays = slice(use, from, to);
    const readDays = slice(readings, from, to);
    if (m.device !== ctx.device && readDays.some((v) => v > 0)) members++;
    for (let i = 0; i < n; i++) {
      if (used(usedDays[i])) quiet[i] = false;
      if (m.device.kind === 'fridge' && used(readDays[i])) fridgeReports[i] = true;
    }
  }
  const hasFridge = fridgeReports.some(Boolean);
  const away = new Array<boolean>(n).fill(false);
  for (let i = 0; i < n;) {
    if (!quiet[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && quiet[j]) j++;
    const len = j - i;
    const fridgeSaw = fridgeReports.slice(i, j).some(Boolean);
    if ((fridgeSaw && len >= 2) || (members >= 1 && len >= 3)) for (let k = i; k < j; k++) away[k] = true;
    i = j;
  }
  return { quiet, away, members, corroborated: members >= 1 || hasFridge };
}

/** The longest run of days without use (NaN or 0) in `values`: [start, end) indexes, or null. */
export function longestQuietRun(values: number[]): [number, number] | null {
  let best: [number, number] | null = null;
  for (let i = 0; i < values.length;) {
    if (values[i] > 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < values.length && !(values[j] > 0)) j++;
    if (!best || j - i > best[1] - best[0]) best = [i, j];
    i = j;
  }
  return best;
}
