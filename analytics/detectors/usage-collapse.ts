import { z } from 'zod';
import { longestQuietRun, presence, householdFeatures } from './household.ts';
import { activeDays, levelText, median, pct, round, slice, sum, zOf } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail, silentDaysParam, USAGE } from './usage.ts';

const params = z.object({
  /** Days before the recent part that set the device's own baseline. */
  baselineDays: z.number().int().min(7).default(56),
  /** The recent part compared with it: longer than the longest ordinary absence, so a drop must outlast one. */
  recentDays: z.number().int().min(3).default(35),
  /** Recent use over baseline use (upper confidence bound) at or below which use has collapsed. */
  maxRatio: z.number().min(0).max(1).default(0.5),
  /** Confidence of that bound (one-sided); 0.5 takes the plain ratio. */
  level: z.number().min(0.5).max(0.999).default(0.9),
  /** Days with use needed in the baseline: a device that was never used much cannot collapse. */
  minBaselineDays: z.number().int().min(1).default(10),
  /** Days of the recent part left once absences are set aside. */
  minRecentDays: z.number().int().min(1).default(14),
  /** The longest ordinary absence (holidays of up to four weeks)… */
  absenceDays: z.number().int().min(1).default(28),
  /** …and the days around it without use (the last wash before leaving): a quiet spell up to both may be one. */
  graceDays: z.number().int().min(0).default(7),
  /** Days without any reading from which the device is the silent-device rule's case (the same as that rule's). */
  silentDays: silentDaysParam,
  /** Set absences aside (the household's quiet spells, or the device's own longest one when nothing can corroborate). */
  absenceAware: z.boolean().default(true),
  windowDays: z.number().int().min(14).max(365).default(91),
}).strict().refine((p) => p.baselineDays + p.recentDays <= p.windowDays, 'baselineDays + recentDays must fit in windowDays');

/** Use fallen far below the device's own baseline while it still reports, and not because the household is away. */
export const usageCollapse: Detector<z.infer<typeof params>> = {
  id: 'usage-collapse',
  description: "recent use per day at home against the device's own baseline, while the device still reports",
  kinds: Object.keys(USAGE),
  params,
  windowDays: (p) => p.windowDays,
  detection: (p) => ({ after: p.recentDays, before: p.baselineDays }),
  features: (_p, kind) => [USAGE[kind].usage, USAGE[kind].readings],
  householdFeatures,
  detect(ctx) {
    const { series, from, to, params: p, device } = ctx;
    const u = USAGE[device.kind];
    const use = slice(series.daily.get(u.usage.name)!, from, to);
    const readings = slice(series.daily.get(u.readings.name)!, from, to);
    // Quiet this long, it is the silent-device rule's business (and only its).
    if (quietTail(readings) >= (p.silentDays as Record<string, number>)[device.kind]) return null;
    const n = use.length;
    const split = n - p.recentDays;
    const keep = new Array<boolean>(n).fill(true);
    let away = 0;
    if (p.absenceAware) {
      const pr = presence(ctx, from, to);
      // The days away, and the day either side (the drive there and back is no ordinary day's use).
      pr.away.forEach((a, i) => {
        if (a) for (let k = Math.max(0, i - 1); k <= Math.min(n - 1, i + 1); k++) keep[k] = false;
      });
      if (!pr.corroborated) {
        // Nothing else to tell an absence by: the device's longest quiet spell of each part may be one.
        for (const [a, b] of [[0, split], [split, n]]) {
          const run = longestQuietRun(use.slice(a, b));
          if (run && run[1] - run[0] <= p.absenceDays + p.graceDays && run[1] - run[0] >= 2) for (let i = a + run[0]; i < a + run[1]; i++) keep[i] = false;
        }
      }
      away = keep.slice(split).filter((k) => !k).length;
    }
    // One exceptional day (a long drive, a party) does not make a baseline: days are capped at 4× the device's median day of use.
    const cap = p.absenceAware ? 4 * median(use.filter((v) => v > 0)) : Infinity;
    const capped = use.map((v) => (Number.isNaN(v) ? 0 : Math.min(v, cap)));
    const base = capped.slice(0, split).filter((_, i) => keep[i]);
    const recent = capped.slice(split).filter((_, i) => keep[split + i]);
    if (activeDays(base) < p.minBaselineDays || recent.length < p.minRecentDays) return null;
    const b = sum(base) / base.length;
    const r = sum(recent) / recent.length;
    const ratio = r / b;
    const upper = ratioUpper(recent, base, p.level, u.counted);
    if (!(upper <= p.maxRatio)) return null;
    const level = levelText(p.level);
    return {
      summary: `Use fell to ${round(r, 2)} ${u.unit} a day over the last ${p.recentDays} days${away ? ` (${away} days away from home set aside)` : ''} from ${round(b, 2)} a day in the ${p.baselineDays} days before: ${pct(ratio)} of its own baseline, and ${level} sure it is at most ${pct(upper)} (the rule fires at ${pct(p.maxRatio)} or less), while the device still reports.`,
      figures: { baseline_per_day: round(b, 3), recent_per_day: round(r, 3), ratio: round(ratio, 3), ratio_upper_bound: round(upper, 3), recent_days_at_home: recent.length, days_away: away },
      thresholds: { max_ratio: p.maxRatio, min_baseline_days: p.minBaselineDays, min_recent_days: p.minRecentDays },
      series: { label: `${u.unit} per day`, values: use.map((v) => (Number.isNaN(v) ? 0 : round(v, 2))), threshold: round(b * p.maxRatio, 2) },
      confidence: { summary: `${level} sure use is at most ${pct(upper)} of its baseline (the rule needs ${pct(p.maxRatio)} or less)`, figure: 'ratio', bound: round(upper, 3), threshold: p.maxRatio, level: p.level },
    };
  },
};

/**
 * Upper confidence bound of recent use over baseline use, both uncertain: on the log scale, the
 * ratio plus z times the combined relative error of the two means; for counted use (cycles,
 * door openings) each part's error is that of a Poisson count (never less than half an event,
 * so a recent part with nothing in it still has a bound), for distances the days' own scatter.
 */
export function ratioUpper(recent: number[], base: number[], level: number, counted: boolean): number {
  const stats = (xs: number[]) => {
    const n = xs.length;
    const m = sum(xs) / n;
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, n - 1));
    return { n, m, total: sum(xs), sd };
  };
  const r = stats(recent);
  const b = stats(base);
  const z = zOf(level);
  if (counted) {
    const rTotal = Math.max(r.total, 0.5);
    return ((rTotal / r.n) / b.m) * Math.exp(z * Math.sqrt(1 / rTotal + 1 / Math.max(b.total, 0.5)));
  }
  const rel = Math.sqrt((r.sd / Math.max(r.m, b.m * 0.01)) ** 2 / r.n + (b.sd / b.m) ** 2 / b.n);
  return (Math.max(r.m, b.m * 0.01) / b.m) * Math.exp(z * rel);
}
