import { pct, round } from './stats.ts';
import type { DeviceEvent, DeviceSeries, FeatureSpec } from './types.ts';
import { DAY_MS } from './types.ts';

/**
 * What counts as an overloaded wash, shared by washer-overloaded and by recurring-error on a
 * washer, so that the upsell and the service trigger of one machine count the same washes:
 * `load_kg` above the model's `capacity_kg` × `overCapacityFactor` by more than the load sensor's
 * accuracy (`sensorMarginKg`).
 */
export interface OverloadParams {
  overCapacityFactor: number;
  sensorMarginKg: number;
}

const limitOf = (capacity: unknown, p: OverloadParams) => (typeof capacity === 'number' ? round(capacity * p.overCapacityFactor + p.sensorMarginKg, 3) : 1e9);

export const CYCLES_FEATURE = 'washer.cycles';
export const overloadFeatureName = (p: OverloadParams) => `washer.overloaded.${p.overCapacityFactor}.${p.sensorMarginKg}`;

/** The daily features: wash cycles, and those overloaded. */
export function overloadFeatures(p: OverloadParams): FeatureSpec[] {
  return [
    { name: CYCLES_FEATURE, measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
    {
      name: overloadFeatureName(p),
      measurement: 'washer_cycle',
      agg: 'count',
      field: 'load_kg',
      // A model without a capacity never counts as overloaded.
      filter: (m) => ({ field: 'load_kg', op: '>', value: limitOf(m?.capacity_kg, p) }),
    },
  ];
}

/** How a washer's error reports of a window line up with its overloaded washes. */
export interface OverloadLink {
  /** Error reports counted in the window. */
  reports: number;
  /** Of them, those on a day with an overloaded wash or the day after. */
  afterOverload: number;
  /** Share of the window's washing days that were such a day: where reports would fall by chance. */
  chance: number;
  /** The reports follow the overloads: 2 or more, half or more of them, and more than chance. */
  follows: boolean;
}

/**
 * Sets a washer's error reports against its overloaded washes, on the daily features (UTC days):
 * a report comes "within a day" of an overloaded wash when it falls on a day with one or on the
 * day after. The reports follow the overloads when at least two and at least half of them do,
 * and a larger share than of the window's washing days (so a machine overloaded on nearly every
 * washing day is not credited with a link its errors would show by chance). Null without the
 * features (not a washer).
 */
export function overloadLink(series: DeviceSeries, from: number, to: number, p: OverloadParams, counts: (e: DeviceEvent) => boolean): OverloadLink | null {
  const over = series.daily.get(overloadFeatureName(p));
  const cycles = series.daily.get(CYCLES_FEATURE);
  if (!over || !cycles) return null;
  const overDay = (i: number) => i >= 0 && i < over.length && over[i] > 0;
  const near = (i: number) => overDay(i) || overDay(i - 1);
  let washDays = 0;
  let nearDays = 0;
  for (let i = Math.max(0, from); i < Math.min(to, cycles.length); i++) {
    if (!(cycles[i] > 0)) continue;
    washDays++;
    if (near(i)) nearDays++;
  }
  const fromMs = series.startMs + from * DAY_MS;
  const toMs = series.startMs + to * DAY_MS;
  let reports = 0;
  let afterOverload = 0;
  for (const e of series.events) {
    if (e.timeMs < fromMs || e.timeMs >= toMs || !counts(e)) continue;
    reports++;
    if (near(Math.floor((e.timeMs - series.startMs) / DAY_MS))) afterOverload++;
  }
  const chance = washDays > 0 ? nearDays / washDays : 0;
  const follows = afterOverload >= 2 && afterOverload * 2 >= reports && afterOverload / reports > chance;
  return { reports, afterOverload, chance, follows };
}

/** The figures a trigger's evidence carries of the link (with `prefix` naming what was counted). */
export function linkFigures(l: OverloadLink, prefix: string): Record<string, number> {
  return { [`${prefix}`]: l.reports, [`${prefix}_after_overload`]: l.afterOverload, wash_days_after_overload_share: round(l.chance, 3) };
}

/** "3 of the 4 error reports in the window came within a day of an overloaded cycle …". */
export function linkSentence(l: OverloadLink, what: string): string {
  return `${l.afterOverload} of the ${l.reports} ${what} came within a day of an overloaded cycle (on its day or the next; ${pct(l.chance)} of the washing days were such days).`;
}
