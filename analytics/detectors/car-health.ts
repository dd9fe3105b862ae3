import { z } from 'zod';
import { present, round, slice, slopePerDay } from './stats.ts';
import { DAY_MS, type Detector } from './types.ts';

const params = z.object({
  /** OBD-II diagnostic trouble codes: P, C, B or U and four hex digits. */
  dtcPattern: z.string().default('[PCBU][0-9A-F]{4}'),
  /** Warning or critical events of one and the same DTC in the window… */
  minDtc: z.number().int().min(1).default(2),
  /** …on at least this many days: one-off codes of different kinds are the noise of any car. */
  minDtcDays: z.number().int().min(1).default(2),
  /** …within the last this many days of the window: a fault comes back soon, noise months apart. */
  dtcWindowDays: z.number().int().min(1).default(10),
  /** Battery state of health lost per 30 days that counts as a decline (percentage points). */
  minSohDropPer30Days: z.number().min(0).default(1),
  /** Days with a battery reading needed to fit the trend. */
  minSohDays: z.number().int().min(3).default(10),
  windowDays: z.number().int().min(7).max(365).default(28),
}).strict();

/** Diagnostic trouble codes, or a battery whose state of health falls fast. */
export const carHealth: Detector<z.infer<typeof params>> = {
  id: 'car-health',
  description: 'one diagnostic trouble code (warning or critical) coming back, or a fast decline of battery state of health',
  kinds: ['car'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'car.soh', measurement: 'car_trip', agg: 'mean', field: 'battery_soh_pct' }],
  events: true,
  detect({ series, from, to, params: p }) {
    const dtcFrom = Math.max(from, to - p.dtcWindowDays);
    const fromMs = series.startMs + dtcFrom * DAY_MS;
    const toMs = series.startMs + to * DAY_MS;
    const re = new RegExp(`^(?:${p.dtcPattern})$`);
    const all = series.events.filter((e) => e.timeMs >= fromMs && e.timeMs < toMs && e.severity !== 'info' && re.test(e.code));
    const byCode = new Map<string, typeof all>();
    for (const e of all) byCode.set(e.code, [...(byCode.get(e.code) ?? []), e]);
    const top = [...byCode.values()].sort((a, b) => b.length - a.length)[0] ?? [];
    const days = new Set(top.map((e) => Math.floor(e.timeMs / DAY_MS))).size;
    const dtcs = top.length >= p.minDtc && days >= p.minDtcDays ? top : [];
    const soh = slice(series.daily.get('car.soh')!, from, to);
    const slope = present(soh).length >= p.minSohDays ? slopePerDay(soh) * 30 : NaN;
    const declining = slope <= -p.minSohDropPer30Days;
    if (dtcs.length < p.minDtc && !declining) return null;
    const codes = [...new Set(dtcs.map((e) => e.code))];
    const parts: string[] = [];
    if (dtcs.length > 0) parts.push(`diagnostic trouble code ${codes[0]} reported ${dtcs.length} times on ${days} days in the last ${to - dtcFrom} days (the rule fires from ${p.minDtc} on ${p.minDtcDays} days)`);
    if (declining) parts.push(`battery health falling ${round(-slope, 2)} points per 30 days (the rule fires from ${p.minSohDropPer30Days})`);
    const figures: Record<string, number> = { dtc_events: dtcs.length, dtc_days: dtcs.length ? days : 0, distinct_dtcs: byCode.size };
    if (Number.isFinite(slope)) figures.soh_change_per_30_days = round(slope, 3);
    const last = present(soh).at(-1);
    if (last !== undefined) figures.battery_soh_pct = round(last, 1);
    return {
      summary: `${parts.join('; ')}.`.replace(/^./, (c) => c.toUpperCase()),
      figures,
      thresholds: { min_dtc: p.minDtc, min_dtc_days: p.minDtcDays, dtc_window_days: p.dtcWindowDays, min_soh_drop_per_30_days: p.minSohDropPer30Days },
      series: declining || dtcs.length === 0 ? { label: 'battery state of health', unit: '%', values: soh } : {
        label: `${codes[0]} per day`,
        // The chart spans the whole window, like every trigger's series.
        values: Array.from({ length: to - from }, (_, i) => dtcs.filter((e) => Math.floor((e.timeMs - series.startMs) / DAY_MS) - from === i).length),
      },
      offer: { label: declining ? 'Battery check' : `Diagnostics for ${codes.join(', ')}` },
    };
  },
};
