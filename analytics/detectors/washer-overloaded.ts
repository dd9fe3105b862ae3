import { z } from 'zod';
import { levelText, pct, round, slice, sum, wilson } from './stats.ts';
import { linkFigures, linkSentence, overloadFeatureName, overloadFeatures, overloadLink } from './overload.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** A cycle is overloaded when load_kg exceeds capacity_kg × this factor… */
  overCapacityFactor: z.number().min(0.5).max(3).default(1),
  /** …by more than the load sensor's accuracy (kg): a full drum read a little high is not an overload. */
  sensorMarginKg: z.number().min(0).max(5).default(0.5),
  /** Share of the window's cycles that must be overloaded: the lower confidence bound of the share must reach it. */
  minShare: z.number().min(0).max(1).default(0.33),
  /** Confidence of that bound (one-sided Wilson); 0.5 takes the plain share. */
  level: z.number().min(0.5).max(0.999).default(0.9),
  /** Fewer cycles than this in the window say too little to judge. */
  minCycles: z.number().int().min(1).default(8),
  windowDays: z.number().int().min(1).max(365).default(28),
}).strict();

/** Error reports that count against overloading: warnings and critical faults (`info` is a note). */
const FAULT = (e: { severity: string }) => e.severity === 'warning' || e.severity === 'critical';

/** Share of cycles with a load clearly above the model's drum capacity, with a confidence bound. */
export const washerOverloaded: Detector<z.infer<typeof params>> = {
  id: 'washer-overloaded',
  description: "share of wash cycles whose load_kg is above the model's capacity_kg by more than the sensor's accuracy (lower confidence bound)",
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: (p) => overloadFeatures(p),
  // The machine's own error reports, set against its overloaded washes in the evidence.
  events: true,
  detect({ series, from, to, params: p, model, successor }) {
    const cycles = slice(series.daily.get('washer.cycles')!, from, to);
    const over = slice(series.daily.get(overloadFeatureName(p))!, from, to);
    const n = sum(cycles);
    const o = sum(over);
    if (n < p.minCycles) return null;
    const share = o / n;
    const lower = wilson(o, n, p.level).lower;
    if (lower < p.minShare) return null;
    const capacity = Number(model?.capacity_kg ?? NaN);
    const level = levelText(p.level);
    // Where the machine's own faults follow its overloaded washes, the offer says so: the
    // service trigger of the same machine names the same cause (recurring-error).
    const link = overloadLink(series, from, to, p, FAULT);
    const repairs = link?.follows ? ` ${linkSentence(link, 'error reports in the window')} The overloading is straining the machine.` : '';
    return {
      summary: `${o} of ${n} wash cycles (${pct(share)}) in the last ${to - from} days were loaded more than ${p.sensorMarginKg} kg (the load sensor's accuracy) above the ${capacity} kg capacity of this ${model?.name ?? 'machine'}; ${level} sure at least ${pct(lower)} of its washes are overloaded, and the rule fires from ${pct(p.minShare)}.${repairs}`,
      figures: { cycles: n, overloaded_cycles: o, overload_share: round(share, 3), overload_share_lower_bound: round(lower, 3), capacity_kg: capacity, ...(link && link.reports > 0 ? linkFigures(link, 'error_reports') : {}) },
      thresholds: { min_overload_share: p.minShare, min_cycles: p.minCycles, over_capacity_factor: p.overCapacityFactor, sensor_margin_kg: p.sensorMarginKg },
      series: { label: 'overloaded cycles per day', values: over.map((v, i) => (Number.isNaN(cycles[i]) ? NaN : Number.isNaN(v) ? 0 : v)) },
      confidence: { summary: `${level} sure at least ${pct(lower)} of its washes are overloaded (the rule needs ${pct(p.minShare)})`, figure: 'overload_share', bound: round(lower, 3), threshold: p.minShare, level: p.level },
      offer: successor ? { target: successor.id, label: `${successor.name} (${successor.capacity_kg} kg)` } : undefined,
    };
  },
};
