import { z } from 'zod';
import { mean, present, round, slice, slopePerDay } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Days at the start of the window that set the machine's own baseline. */
  baselineDays: z.number().int().min(3).default(14),
  /** Days at the end of the window that are compared with it. */
  recentDays: z.number().int().min(3).default(7),
  /** Recent mean vibration over the baseline mean that counts as wear. */
  minRatio: z.number().min(1).default(1.3),
  /** Days with vibration data needed in each part. */
  minDaysEach: z.number().int().min(1).default(3),
  windowDays: z.number().int().min(7).max(365).default(42),
}).strict();

/** Rising spin vibration against the machine's own earlier level: a sign of bearing wear. */
export const washerBearingWear: Detector<z.infer<typeof params>> = {
  id: 'washer-bearing-wear',
  description: "mean vibration of recent cycles against the machine's own baseline, with a rising trend",
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'washer.vibration', measurement: 'washer_cycle', agg: 'mean', field: 'vibration_g' }],
  detect({ series, from, to, params: p }) {
    const v = slice(series.daily.get('washer.vibration')!, from, to);
    const base = v.slice(0, p.baselineDays);
    const recent = v.slice(v.length - p.recentDays);
    if (present(base).length < p.minDaysEach || present(recent).length < p.minDaysEach) return null;
    const b = mean(base);
    const r = mean(recent);
    const ratio = r / b;
    const slope = slopePerDay(v);
    if (!(ratio >= p.minRatio) || !(slope > 0)) return null;
    return {
      summary: `Spin vibration rose from ${round(b, 2)} g (first ${p.baselineDays} days) to ${round(r, 2)} g (last ${p.recentDays} days), ${round(ratio, 2)}× its own baseline; the rule fires from ${p.minRatio}×. A worn drum bearing is the usual cause.`,
      figures: { baseline_vibration_g: round(b, 3), recent_vibration_g: round(r, 3), ratio: round(ratio, 3), slope_g_per_week: round(slope * 7, 4) },
      thresholds: { min_ratio: p.minRatio },
      series: { label: 'mean vibration per day', unit: 'g', values: v, threshold: round(b * p.minRatio, 3) },
    };
  },
};
