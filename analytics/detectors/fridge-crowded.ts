import { z } from 'zod';
import { mean, present, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Door openings over the window, against the median fridge of the same model. */
  minOpeningsRatio: z.number().min(1).default(1.6),
  /** Mean compressor duty, against the median of the same model. */
  minDutyRatio: z.number().min(1).default(1.15),
  /**
   * …and beyond the cohort's own spread, in robust standard deviations (the interquartile
   * range / 1.349) above its median: door openings, the household's size, an outlier of the
   * model (so that an ordinary big family on a model whose fridges vary is not taken for a
   * fridge too small); compressor duty, the strain it causes, above nearly all of it. 0: the ratios alone.
   */
  minOpeningsZ: z.number().min(0).default(3),
  minDutyZ: z.number().min(0).default(2),
  /** Days with data needed in the window. */
  minDays: z.number().int().min(1).default(7),
  windowDays: z.number().int().min(7).max(365).default(28),
}).strict();

/** A fridge used far more than others of its model: doors opened often, compressor working hard. */
export const fridgeCrowded: Detector<z.infer<typeof params>> = {
  id: 'fridge-crowded',
  description: 'door openings and compressor duty far above the median of the same model (cohort percentiles)',
  kinds: ['fridge'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [
    { name: 'fridge.door_openings', measurement: 'fridge_state', agg: 'sum', field: 'door_openings' },
    { name: 'fridge.duty', measurement: 'fridge_state', agg: 'mean', field: 'compressor_duty' },
  ],
  cohortFeatures: () => ['fridge.door_openings', 'fridge.duty'],
  detect({ series, from, to, params: p, cohort, successor, model }) {
    const openings = slice(series.daily.get('fridge.door_openings')!, from, to);
    const duty = slice(series.daily.get('fridge.duty')!, from, to);
    if (present(openings).length < p.minDays) return null;
    const co = cohort.get('fridge.door_openings');
    const cd = cohort.get('fridge.duty');
    if (!co || !cd || co.devices < 5) return null; // no cohort to compare with
    const total = sum(openings);
    const d = mean(duty);
    const oRatio = total / co.percentiles.p50;
    const dRatio = d / cd.percentiles.p50;
    if (!(oRatio >= p.minOpeningsRatio) || !(dRatio >= p.minDutyRatio)) return null;
    const robustZ = (x: number, c: typeof co) => (x - c.percentiles.p50) / Math.max((c.percentiles.p75 - c.percentiles.p25) / 1.349, 1e-9);
    const oz = robustZ(total, co);
    const dz = robustZ(d, cd);
    if (!(oz >= p.minOpeningsZ) || !(dz >= p.minDutyZ)) return null;
    const days = to - from;
    return {
      summary: `The doors of this ${model?.name ?? 'fridge'} opened ${Math.round(total / days)} times a day over the last ${days} days, ${round(oRatio, 1)}× the median of ${co.devices} ${co.model} fridges, and its compressor ran ${Math.round(d * 100)}% of the time (${round(dRatio, 2)}× the median): it is likely too small for the household.`,
      figures: { door_openings_per_day: round(total / days, 1), openings_ratio: round(oRatio, 2), openings_robust_z: round(oz, 2), compressor_duty: round(d, 3), duty_ratio: round(dRatio, 2), duty_robust_z: round(dz, 2) },
      thresholds: { min_openings_ratio: p.minOpeningsRatio, min_duty_ratio: p.minDutyRatio, min_openings_z: p.minOpeningsZ, min_duty_z: p.minDutyZ },
      series: { label: 'door openings per day', values: openings, threshold: round((co.percentiles.p50 / days) * p.minOpeningsRatio, 1) },
      cohort: { model: co.model, devices: co.devices, percentiles: { ...co.percentiles, duty_p50: cd.percentiles.p50 } },
      // Both figures must stand out of the cohort's spread; the margin is the closer of the two.
      confidence: oz / p.minOpeningsZ < dz / p.minDutyZ
        ? { summary: `door openings ${round(oz, 1)} robust standard deviations above the ${co.model} median (the rule needs ${p.minOpeningsZ}; compressor duty ${round(dz, 1)}, needs ${p.minDutyZ})`, figure: 'openings_robust_z', bound: round(oz, 2), threshold: p.minOpeningsZ }
        : { summary: `compressor duty ${round(dz, 1)} robust standard deviations above the ${co.model} median (the rule needs ${p.minDutyZ}; door openings ${round(oz, 1)}, need ${p.minOpeningsZ})`, figure: 'duty_robust_z', bound: round(dz, 2), threshold: p.minDutyZ },
      offer: successor ? { target: successor.id, label: `${successor.name} (${successor.volume_l} l)` } : undefined,
    };
  },
};
