import { z } from 'zod';
import { round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Cycles per week from which a washer counts as heavily used. */
  minCyclesPerWeek: z.number().min(0).default(10),
  /** …and at least this many times the median of its model cohort. */
  minCohortRatio: z.number().min(0).default(1.5),
  windowDays: z.number().int().min(7).max(365).default(28),
}).strict();

/** Cycles per week, against a fixed floor and the model cohort's median. */
export const washerHeavyUse: Detector<z.infer<typeof params>> = {
  id: 'washer-heavy-use',
  description: 'wash cycles per week, above a floor and well above the median of the same model',
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' }],
  cohortFeatures: () => ['washer.cycles'],
  detect({ series, from, to, params: p, cohort, model }) {
    const cycles = slice(series.daily.get('washer.cycles')!, from, to);
    const perWeek = (sum(cycles) / (to - from)) * 7;
    if (perWeek < p.minCyclesPerWeek) return null;
    const c = cohort.get('washer.cycles');
    // The cohort's percentiles are of each machine's cycles over the same window.
    const ratio = sum(cycles) / (c?.percentiles.p50 ?? NaN);
    if (Number.isFinite(ratio) && ratio < p.minCohortRatio) return null;
    return {
      summary: `This washer ran ${round(perWeek, 1)} cycles a week over the last ${to - from} days (the rule fires from ${p.minCyclesPerWeek}), ${round(ratio, 1)}× the median ${model?.id ?? ''} machine.`,
      figures: { cycles: sum(cycles), cycles_per_week: round(perWeek, 2), cohort_ratio: round(ratio, 2) },
      thresholds: { min_cycles_per_week: p.minCyclesPerWeek, min_cohort_ratio: p.minCohortRatio },
      series: { label: 'cycles per day', values: cycles.map((v) => (Number.isNaN(v) ? 0 : v)) },
      cohort: c ? { model: c.model, devices: c.devices, percentiles: c.percentiles } : undefined,
    };
  },
};
