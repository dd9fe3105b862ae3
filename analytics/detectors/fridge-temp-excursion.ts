import { z } from 'zod';
import { levelText, pct, round, slice, sum, wilson } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Fridge compartment temperature above which food is at risk. */
  maxTempC: z.number().default(8),
  /** Share of the window's readings above it. */
  minShare: z.number().min(0).max(1).default(0.03),
  /** …on at least this many days. */
  minDays: z.number().int().min(1).default(2),
  /** Confidence of the share's lower bound (one-sided Wilson), which must reach minShare; 0.5 takes the plain share. */
  level: z.number().min(0.5).max(0.999).default(0.9),
  windowDays: z.number().int().min(1).max(365).default(14),
}).strict();

/** Fridge compartment too warm for too long: a failing compressor, seal or thermostat. */
export const fridgeTempExcursion: Detector<z.infer<typeof params>> = {
  id: 'fridge-temp-excursion',
  description: 'share of readings with the fridge compartment above a safe temperature',
  kinds: ['fridge'],
  params,
  windowDays: (p) => p.windowDays,
  features: (p) => [
    { name: 'fridge.readings', measurement: 'fridge_state', agg: 'count', field: 'temp_c' },
    { name: `fridge.warm.${p.maxTempC}`, measurement: 'fridge_state', agg: 'count', field: 'temp_c', filter: () => ({ field: 'temp_c', op: '>', value: p.maxTempC }) },
  ],
  detect({ series, from, to, params: p }) {
    const all = slice(series.daily.get('fridge.readings')!, from, to);
    const warm = slice(series.daily.get(`fridge.warm.${p.maxTempC}`)!, from, to);
    const n = sum(all);
    const w = sum(warm);
    if (n === 0) return null;
    const share = w / n;
    const lower = wilson(w, n, p.level).lower;
    const days = warm.filter((v) => v > 0).length;
    if (lower < p.minShare || days < p.minDays) return null;
    const level = levelText(p.level);
    const shares = all.map((v, i) => (Number.isNaN(v) || v === 0 ? NaN : round(((Number.isNaN(warm[i]) ? 0 : warm[i]) / v) * 100, 1)));
    return {
      summary: `The fridge compartment was above ${p.maxTempC} °C in ${pct(share)} of ${n} readings, on ${days} of the last ${to - from} days (the rule fires from ${pct(p.minShare)} on ${p.minDays} days).`,
      figures: { readings: n, warm_readings: w, warm_share: round(share, 4), warm_share_lower_bound: round(lower, 4), days_with_excursion: days },
      thresholds: { max_temp_c: p.maxTempC, min_share: p.minShare, min_days: p.minDays },
      series: { label: `% of readings above ${p.maxTempC} °C`, unit: '%', values: shares, threshold: p.minShare * 100 },
      confidence: { summary: `${level} sure at least ${pct(lower)} of the readings were above ${p.maxTempC} °C (the rule needs ${pct(p.minShare)})`, figure: 'warm_share', bound: round(lower, 4), threshold: p.minShare, level: p.level },
    };
  },
};
