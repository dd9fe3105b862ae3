import { z } from 'zod';
import { activeDays, slice } from './stats.ts';
import type { Detector } from './types.ts';
import { USAGE } from './usage.ts';

const params = z.object({
  /** Days without a single reading, per kind (a washer rests between washes; a fridge never does). */
  silentDays: z.object({ washer: z.number().int().min(1).default(14), fridge: z.number().int().min(1).default(3), car: z.number().int().min(1).default(14) }).strict().prefault({}),
  /** Days with readings needed before the silence: it must have been an active device. */
  minActiveDays: z.number().int().min(1).default(10),
  windowDays: z.number().int().min(7).max(365).default(56),
}).strict();

/** A device that used to report and has gone quiet: unplugged, offline or given up on. */
export const deviceSilent: Detector<z.infer<typeof params>> = {
  id: 'device-silent',
  description: 'no reading at all for longer than the kind allows, after an active period',
  kinds: Object.keys(USAGE),
  params,
  windowDays: (p) => p.windowDays,
  features: (_p, kind) => [USAGE[kind].readings],
  detect({ series, from, to, params: p, device }) {
    const silent = (p.silentDays as Record<string, number>)[device.kind] ?? 14;
    const readings = slice(series.daily.get(USAGE[device.kind].readings.name)!, from, to);
    let quiet = 0;
    for (let i = readings.length - 1; i >= 0 && !(readings[i] > 0); i--) quiet++;
    if (quiet < silent || quiet >= readings.length) return null;
    const before = activeDays(readings.slice(0, readings.length - quiet));
    if (before < p.minActiveDays) return null;
    const lastSeen = new Date(series.startMs + (to - quiet) * 86_400_000 - 1).toISOString().slice(0, 10);
    return {
      summary: `No reading for ${quiet} days (last on ${lastSeen}); it reported on ${before} days before that. The rule fires after ${silent} silent days for a ${device.kind}.`,
      figures: { silent_days: quiet, active_days_before: before },
      thresholds: { silent_days: silent, min_active_days: p.minActiveDays },
      series: { label: 'readings per day', values: readings.map((v) => (Number.isNaN(v) ? 0 : v)) },
    };
  },
};
