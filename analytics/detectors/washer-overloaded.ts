import { z } from 'zod';
import { pct, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';

const params = z.object({
  /** A cycle is overloaded when load_kg exceeds capacity_kg × this factor. */
  overCapacityFactor: z.number().min(0.5).max(3).default(1),
  /** Share of the window's cycles that must be overloaded. */
  minShare: z.number().min(0).max(1).default(0.5),
  /** Fewer cycles than this in the window say too little to judge. */
  minCycles: z.number().int().min(1).default(8),
  windowDays: z.number().int().min(1).max(365).default(28),
}).strict();

/** Share of cycles with a load above the model's drum capacity. */
export const washerOverloaded: Detector<z.infer<typeof params>> = {
  id: 'washer-overloaded',
  description: "share of wash cycles whose load_kg is above the model's capacity_kg",
  kinds: ['washer'],
  params,
  windowDays: (p) => p.windowDays,
  features: (p) => [
    { name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
    {
      name: `washer.overloaded.${p.overCapacityFactor}`,
      measurement: 'washer_cycle',
      agg: 'count', field: 'load_kg',
      // A model without a capacity never counts as overloaded.
      filter: (m) => ({ field: 'load_kg', op: '>', value: typeof m?.capacity_kg === 'number' ? m.capacity_kg * p.overCapacityFactor : 1e9 }),
    },
  ],
  detect({ series, from, to, params: p, model, successor }) {
    const cycles = slice(series.daily.get('washer.cycles')!, from, to);
    const over = slice(series.daily.get(`washer.overloaded.${p.overCapacityFactor}`)!, from, to);
    const n = sum(cycles);
    const o = sum(over);
    if (n < p.minCycles) return null;
    const share = o / n;
    if (share < p.minShare) return null;
    const capacity = Number(model?.capacity_kg ?? NaN);
    return {
      summary: `${o} of ${n} wash cycles (${pct(share)}) in the last ${to - from} days were loaded above the ${capacity} kg capacity of this ${model?.name ?? 'machine'}; the rule fires from ${pct(p.minShare)}.`,
      figures: { cycles: n, overloaded_cycles: o, overload_share: round(share, 3), capacity_kg: capacity },
      thresholds: { min_overload_share: p.minShare, min_cycles: p.minCycles, over_capacity_factor: p.overCapacityFactor },
      series: { label: 'overloaded cycles per day', values: over.map((v, i) => (Number.isNaN(cycles[i]) ? NaN : Number.isNaN(v) ? 0 : v)) },
      offer: successor ? { target: successor.id, label: `${successor.name} (${successor.capacity_kg} kg)` } : undefined,
    };
  },
};
