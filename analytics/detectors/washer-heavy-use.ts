import { z } from 'zod';
import { householdFeatures, presence } from './household.ts';
import { levelText, poissonBounds, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Cycles per week from which a washer counts as heavily used (the lower confidence bound must reach it). */
  minCyclesPerWeek: z.number().min(0).default(10),
  /** …and at least this many times the median of its model cohort. */
  minCohortRatio: z.number().min(0).default(1.5),
  /** Confidence of the bound (one-sided Poisson); 0.5 takes the plain rate. */
  level: z.number().min(0.5).max(0.999).default(0.9),
  /** Days needed in the window, an absence still under way at its end set aside. */
  minDaysAtHome: z.number().int().min(1).default(14),
  /** Set aside an absence still under way at the end of the window. */
  absenceAware: z.boolean().default(true),
  windowDays: z.number().int().min(7).max(365).default(28),
}).strict();

/** Cycles per week (an absence under way set aside), against a fixed floor (lower confidence bound) and the model cohort's median. */
export const washerHeavyUse: Detector<z.infer<typeof params>> = {
  id: 'washer-heavy-use',
  description: 'wash cycles per week, an absence under way set aside, above a floor (lower confidence bound) and well above the median of the same model',
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' }],
  cohortFeatures: () => ['washer.cycles'],
  householdFeatures,
  detect(ctx) {
    const { series, from, to, params: p, cohort, model } = ctx;
    const cycles = slice(series.daily.get('washer.cycles')!, from, to);
    // Laundry waits for the household: the days of an absence it has come back from count (their
    // washing was done on return); an absence still under way at the end is set aside.
    const away = p.absenceAware ? presence(ctx, from, to).away : cycles.map(() => false);
    let end = away.length;
    while (end > 0 && away[end - 1]) end--;
    const home = cycles.slice(0, end);
    if (home.length < p.minDaysAtHome) return null;
    const n = sum(home);
    const perWeek = (n / home.length) * 7;
    const lower = (poissonBounds(n, p.level).lower / home.length) * 7;
    if (lower < p.minCyclesPerWeek) return null;
    const c = cohort.get('washer.cycles');
    // The cohort's percentiles are of each machine's cycles over the same window.
    const ratio = sum(cycles) / (c?.percentiles.p50 ?? NaN);
    if (Number.isFinite(ratio) && ratio < p.minCohortRatio) return null;
    const level = levelText(p.level);
    return {
      summary: `This washer ran ${round(perWeek, 1)} cycles a week over ${home.length === to - from ? `the last ${to - from} days` : `${home.length} of the last ${to - from} days (the household is away since)`} (the rule fires from ${p.minCyclesPerWeek}; ${level} sure it is at least ${round(lower, 1)}), ${round(ratio, 1)}× the median ${model?.id ?? ''} machine.`,
      figures: { cycles: sum(cycles), days_at_home: home.length, cycles_per_week: round(perWeek, 2), cycles_per_week_lower_bound: round(lower, 2), cohort_ratio: round(ratio, 2) },
      thresholds: { min_cycles_per_week: p.minCyclesPerWeek, min_cohort_ratio: p.minCohortRatio },
      series: { label: 'cycles per day', values: cycles.map((v) => (Number.isNaN(v) ? 0 : v)) },
      cohort: c ? { model: c.model, devices: c.devices, percentiles: c.percentiles } : undefined,
      confidence: { summary: `${level} sure it runs at least ${round(lower, 1)} cycles a week (the rule needs ${p.minCyclesPerWeek})`, figure: 'cycles_per_week', bound: round(lower, 2), threshold: p.minCyclesPerWeek, level: p.level },
    };
  },
};
