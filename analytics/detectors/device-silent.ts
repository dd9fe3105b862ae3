import { z } from 'zod';
import { activeDays, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail, SILENT_DAYS, USAGE } from './usage.ts';

const params = z.object({
  /** Days without a single reading, per kind (a washer rests between washes; a fridge never does). */
  silentDays: z.object({ washer: z.number().int().min(1).default(14), fridge: z.number().int().min(1).default(3), car: z.number().int().min(1).default(14) }).strict().prefault({}),
  /** Days with readings needed before the silence: it must have been an active device. */
  minActiveDays: z.number().int().min(1).default(10),
  /** Days just before the silence compared with the whole active period before it… */
  beforeDays: z.number().int().min(3).default(21),
  /** …whose rate must be at least this share of it: a device fading out is usage-collapse's case. */
  minBeforeShare: z.number().min(0).max(1).default(0.5),
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
    const silent = (p.silentDays as Record<string, number>)[device.kind] ?? SILENT_DAYS[device.kind] ?? 14;
    const readings = slice(series.daily.get(USAGE[device.kind].readings.name)!, from, to);
    const quiet = quietTail(readings);
    if (quiet < silent || quiet >= readings.length) return null;
    const active = readings.slice(0, readings.length - quiet);
    const before = activeDays(active);
    if (before < p.minActiveDays) return null;
    const last = active.slice(-p.beforeDays);
    const share = (sum(last) / last.length) / (sum(active) / active.length);
    if (!(share >= p.minBeforeShare)) return null;
    const lastSeen = new Date(series.startMs + (to - quiet) * 86_400_000 - 1).toISOString().slice(0, 10);
    return {
      summary: `No reading for ${quiet} days (last on ${lastSeen}); it reported on ${before} days before that. The rule fires after ${silent} silent days for a ${device.kind}.`,
      figures: { silent_days: quiet, active_days_before: before, rate_before_share: round(share, 2) },
      thresholds: { silent_days: silent, min_active_days: p.minActiveDays },
      series: { label: 'readings per day', values: readings.map((v) => (Number.isNaN(v) ? 0 : v)) },
    };
  },
};
