import { z } from 'zod';
import { dropStuck, levelText, median, olsSlope, pct, present, robustTrend, round, slice, zOf } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** Rise of spin vibration over the window (the fitted line), against the machine's own level, that counts as wear. */
  minRise: z.number().min(0).default(0.3),
  /**
   * Confidence that it rises at all, against the machine's own cycle-to-cycle scatter (one-sided):
   * a machine is looked at every day, so a chance rise must be very unlikely in any one window.
   * 0.5: no test, the fitted rise alone.
   */
  level: z.number().min(0.5).max(0.999999).default(0.99999),
  /** Days with vibration data needed in the window… */
  minDays: z.number().int().min(3).default(28),
  /** …and in each of its first and last thirds: a level at either end, not a couple of washes. */
  minDaysEachEnd: z.number().int().min(1).default(6),
  windowDays: z.number().int().min(7).max(365).default(112),
}).strict();

/**
 * Rising spin vibration against the machine's own level: a robust line through the daily mean
 * vibration (its logarithm: the scatter of a cycle is in proportion to its level), the median
 * of pairwise slopes so that a stuck or spiking reading does not drag it, and its standard error
 * from the machine's own robust scatter. Fires when even the lower bound of the rise is wear.
 */
export const washerBearingWear: Detector<z.infer<typeof params>> = {
  id: 'washer-bearing-wear',
  description: "trend of spin vibration against the machine's own level, significant against its own scatter (robust fit, lower confidence bound)",
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'washer.vibration', measurement: 'washer_cycle', agg: 'mean', field: 'vibration_g' }],
  detect({ series, from, to, params: p }) {
    const v = dropStuck(slice(series.daily.get('washer.vibration')!, from, to));
    const logs = v.map((x) => (Number.isNaN(x) || x <= 0 ? NaN : Math.log(x)));
    // Cheap first look: no rise between the first and the last third, no trend worth fitting.
    const third = Math.floor(logs.length / 3);
    const [head, tail] = [logs.slice(0, third), logs.slice(logs.length - third)];
    if (present(head).length < p.minDaysEachEnd || present(tail).length < p.minDaysEachEnd) return null;
    if (!(median(tail) > median(head))) return null;
    // A least-squares line far short of the rise needs no robust fit.
    if (!(Math.exp(olsSlope(logs) * logs.length) - 1 >= p.minRise / 3)) return null;
    const t = robustTrend(logs);
    if (t.n < p.minDays || !(t.slope > 0)) return null;
    const idx = logs.map((x, i) => (Number.isNaN(x) ? -1 : i)).filter((i) => i >= 0);
    const span = idx[idx.length - 1] - idx[0];
    const rise = Math.exp(t.slope * span) - 1;
    const lower = Math.exp((t.slope - zOf(p.level) * t.se) * span) - 1;
    if (!(rise >= p.minRise) || !(lower > 0)) return null;
    const first = Math.exp(t.intercept + t.slope * idx[0]);
    const last = Math.exp(t.intercept + t.slope * idx[idx.length - 1]);
    const level = levelText(p.level);
    return {
      summary: `Spin vibration rose from ${round(first, 2)} g to ${round(last, 2)} g over the last ${to - from} days (fitted through ${t.n} days of washes): ${pct(rise)} above its own level (the rule fires from ${pct(p.minRise)}), and ${level} sure it is rising, by ${pct(lower)} at least, against the machine's own cycle-to-cycle scatter. A worn drum bearing is the usual cause.`,
      figures: { start_vibration_g: round(first, 3), end_vibration_g: round(last, 3), rise: round(rise, 3), rise_lower_bound: round(lower, 3), scatter: round(t.sd, 3), days_with_data: t.n },
      thresholds: { min_rise: p.minRise, confidence_level: p.level },
      series: { label: 'mean vibration per day', unit: 'g', values: v, threshold: round(first * (1 + p.minRise), 3) },
      confidence: { summary: `${level} sure vibration is rising, by ${pct(lower)} at least over the window (the rule needs a rise at that confidence, and a fitted rise of ${pct(p.minRise)})`, figure: 'rise', bound: round(lower, 3), threshold: 0, level: p.level },
    };
  },
};
