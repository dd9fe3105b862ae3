import { z } from 'zod';
import { householdFeatures, longestQuietRun, presence } from './household.ts';
import { activeDays, levelText, round, slice, sum, zOf } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail } from './usage.ts';

const params = z.object({
  /** Distance per 30 days below which pay-as-you-drive insurance pays off (the upper confidence bound must be below it). */
  maxKmPer30Days: z.number().min(0).default(400),
  /** Confidence of that bound (one-sided, from the week-to-week scatter); 0.5 takes the plain rate. */
  level: z.number().min(0.5).max(0.999).default(0.99),
  /** Days with trips needed: a car that is not driven at all is another story (silent). */
  minTripDays: z.number().int().min(1).default(4),
  /** Low but steady: the lower half of the window drives at least this share of the higher (a fading car is usage-collapse's case). */
  minHalfRatio: z.number().min(0).max(1).default(0.35),
  /** Days without a trip at the end from which the car counts as silent instead. */
  maxQuietDays: z.number().int().min(1).default(14),
  /** Days at home needed in the window (days the household was away, and the drive there and back, do not count). */
  minDaysAtHome: z.number().int().min(7).default(56),
  /** The longest ordinary absence: a car alone in its household, parked this long or less, may be away with its owners. */
  absenceDays: z.number().int().min(1).default(28),
  absenceAware: z.boolean().default(true),
  windowDays: z.number().int().min(7).max(365).default(112),
}).strict();

/** A car driven little but regularly, at home: the owner pays a flat premium for kilometres not driven. */
export const carLowMileage: Detector<z.infer<typeof params>> = {
  id: 'car-low-mileage',
  description: 'kilometres driven per 30 days at home, below a threshold (upper confidence bound), on a car still in use',
  kinds: ['car'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'car.km', measurement: 'car_trip', agg: 'sum', field: 'distance_km' }],
  householdFeatures,
  detect(ctx) {
    const { series, from, to, params: p } = ctx;
    const km = slice(series.daily.get('car.km')!, from, to);
    const days = activeDays(km);
    if (days < p.minTripDays) return null;
    if (quietTail(km) >= p.maxQuietDays) return null;
    const n = km.length;
    const keep = new Array<boolean>(n).fill(true);
    if (p.absenceAware) {
      const pr = presence(ctx, from, to);
      pr.away.forEach((a, i) => {
        if (a) for (let k = Math.max(0, i - 1); k <= Math.min(n - 1, i + 1); k++) keep[k] = false;
      });
      if (!pr.corroborated) {
        const run = longestQuietRun(km);
        if (run && run[1] - run[0] >= 5 && run[1] - run[0] <= p.absenceDays) for (let i = Math.max(0, run[0] - 1); i < Math.min(n, run[1] + 1); i++) keep[i] = false;
      }
    }
    const home = km.map((v) => (Number.isNaN(v) ? 0 : v)).filter((_, i) => keep[i]);
    if (home.length < p.minDaysAtHome) return null;
    const perDay = sum(home) / home.length;
    const per30 = perDay * 30;
    if (per30 > p.maxKmPer30Days) return null;
    // Week by week (a week's rhythm is the unit of driving), the scatter of the weekly rates.
    const weeks: number[] = [];
    for (let w = 0; w + 7 <= home.length; w += 7) weeks.push(sum(home.slice(w, w + 7)) / 7);
    const mw = sum(weeks) / weeks.length;
    const sd = Math.sqrt(weeks.reduce((a, x) => a + (x - mw) ** 2, 0) / Math.max(1, weeks.length - 1));
    const upper30 = (perDay + (zOf(p.level) * sd) / Math.sqrt(weeks.length)) * 30;
    if (!(upper30 < p.maxKmPer30Days)) return null;
    const half = Math.floor(home.length / 2);
    const [a, b] = [sum(home.slice(0, half)), sum(home.slice(half))];
    const halfRatio = Math.min(a, b) / Math.max(a, b);
    if (!(halfRatio >= p.minHalfRatio)) return null;
    const level = levelText(p.level);
    return {
      summary: `This car was driven ${Math.round(per30)} km per 30 days over the ${home.length} days at home of the last ${to - from}, on ${days} days; ${level} sure it is under ${Math.round(upper30)} km (the rule fires below ${p.maxKmPer30Days} km): pay-as-you-drive insurance would cost the owner less.`,
      figures: { km: round(sum(km), 1), days_at_home: home.length, km_per_30_days: round(per30, 1), km_per_30_days_upper_bound: round(upper30, 1), days_driven: days, half_ratio: round(halfRatio, 2) },
      thresholds: { max_km_per_30_days: p.maxKmPer30Days, min_trip_days: p.minTripDays },
      series: { label: 'km per day', unit: 'km', values: km.map((v) => (Number.isNaN(v) ? 0 : round(v, 1))) },
      confidence: { summary: `${level} sure it drives under ${Math.round(upper30)} km per 30 days (the rule needs under ${p.maxKmPer30Days})`, figure: 'km_per_30_days', bound: round(upper30, 1), threshold: p.maxKmPer30Days, level: p.level },
    };
  },
};
