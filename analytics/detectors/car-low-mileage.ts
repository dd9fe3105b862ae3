import { z } from 'zod';
import { activeDays, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail } from './usage.ts';

const params = z.object({
  /** Distance per 30 days below which pay-as-you-drive insurance pays off. */
  maxKmPer30Days: z.number().min(0).default(400),
  /** Days with trips needed: a car that is not driven at all is another story (silent). */
  minTripDays: z.number().int().min(1).default(4),
  /** Low but steady: the lower half of the window drives at least this share of the higher (a fading car is usage-collapse's case). */
  minHalfRatio: z.number().min(0).max(1).default(0.35),
  /** Days without a trip at the end from which the car counts as silent instead. */
  maxQuietDays: z.number().int().min(1).default(14),
  windowDays: z.number().int().min(7).max(365).default(56),
}).strict();

/** A car driven little but regularly: the owner pays a flat premium for kilometres not driven. */
export const carLowMileage: Detector<z.infer<typeof params>> = {
  id: 'car-low-mileage',
  description: 'kilometres driven per 30 days, below a threshold, on a car still in use',
  kinds: ['car'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'car.km', measurement: 'car_trip', agg: 'sum', field: 'distance_km' }],
  detect({ series, from, to, params: p }) {
    const km = slice(series.daily.get('car.km')!, from, to);
    const days = activeDays(km);
    if (days < p.minTripDays) return null;
    const per30 = (sum(km) / (to - from)) * 30;
    if (per30 > p.maxKmPer30Days) return null;
    const half = Math.floor(km.length / 2);
    const [a, b] = [sum(km.slice(0, half)), sum(km.slice(half))];
    const halfRatio = Math.min(a, b) / Math.max(a, b);
    if (!(halfRatio >= p.minHalfRatio) || quietTail(km) >= p.maxQuietDays) return null;
    return {
      summary: `This car was driven ${Math.round(per30)} km per 30 days over the last ${to - from} days, on ${days} days (the rule fires below ${p.maxKmPer30Days} km): pay-as-you-drive insurance would cost the owner less.`,
      figures: { km: round(sum(km), 1), km_per_30_days: round(per30, 1), days_driven: days, half_ratio: round(halfRatio, 2) },
      thresholds: { max_km_per_30_days: p.maxKmPer30Days, min_trip_days: p.minTripDays },
      series: { label: 'km per day', unit: 'km', values: km.map((v) => (Number.isNaN(v) ? 0 : round(v, 1))) },
    };
  },
};
