import { z } from 'zod';
import { activeDays, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail, USAGE } from './usage.ts';

const params = z.object({
  /** Days before the recent part that set the device's own baseline. */
  baselineDays: z.number().int().min(7).default(49),
  /** The recent part compared with it. */
  recentDays: z.number().int().min(3).default(21),
  /** Recent use per day over baseline use per day at or below which use has collapsed. */
  maxRatio: z.number().min(0).max(1).default(0.35),
  /** Days with use needed in the baseline: a device that was never used much cannot collapse. */
  minBaselineDays: z.number().int().min(1).default(10),
  /**
   * Quiet days at the end from which the device counts as going silent, per kind: the
   * silent-device rule's case. Shorter than its silence: a device still used at a fraction of
   * its rate is not quiet this long (a washer at a fifth of 4 cycles a week runs every 9 days).
   */
  quietDays: z.object({ washer: z.number().int().min(1).default(10), fridge: z.number().int().min(1).default(3), car: z.number().int().min(1).default(7) }).strict().prefault({}),
  windowDays: z.number().int().min(14).max(365).default(70),
}).strict().refine((p) => p.baselineDays + p.recentDays <= p.windowDays, 'baselineDays + recentDays must fit in windowDays');

/** Use fallen far below the device's own baseline while it still reports: a customer drifting away. */
export const usageCollapse: Detector<z.infer<typeof params>> = {
  id: 'usage-collapse',
  description: "recent use per day against the device's own baseline, while the device still reports",
  kinds: Object.keys(USAGE),
  params,
  windowDays: (p) => p.windowDays,
  features: (_p, kind) => [USAGE[kind].usage, USAGE[kind].readings],
  detect({ series, from, to, params: p, device }) {
    const u = USAGE[device.kind];
    const use = slice(series.daily.get(u.usage.name)!, from, to);
    const readings = slice(series.daily.get(u.readings.name)!, from, to);
    const recent = use.slice(use.length - p.recentDays);
    const base = use.slice(use.length - p.recentDays - p.baselineDays, use.length - p.recentDays);
    // Silence is the silent-device rule's business; this one needs a device that still reports.
    if (activeDays(readings.slice(readings.length - p.recentDays)) === 0) return null;
    if (quietTail(readings) >= ((p.quietDays as Record<string, number>)[device.kind] ?? 14)) return null;
    if (activeDays(base) < p.minBaselineDays) return null;
    const b = sum(base) / base.length;
    const r = sum(recent) / recent.length;
    const ratio = r / b;
    if (!(ratio <= p.maxRatio)) return null;
    return {
      summary: `Use fell to ${round(r, 2)} ${u.unit} a day over the last ${p.recentDays} days from ${round(b, 2)} a day in the ${p.baselineDays} days before: ${Math.round(ratio * 100)}% of its own baseline (the rule fires at ${Math.round(p.maxRatio * 100)}% or less), while the device still reports.`,
      figures: { baseline_per_day: round(b, 3), recent_per_day: round(r, 3), ratio: round(ratio, 3) },
      thresholds: { max_ratio: p.maxRatio, min_baseline_days: p.minBaselineDays },
      series: { label: `${u.unit} per day`, values: use.map((v) => (Number.isNaN(v) ? 0 : round(v, 2))), threshold: round(b * p.maxRatio, 2) },
    };
  },
};
