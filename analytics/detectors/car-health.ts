import { z } from 'zod';
import { dropStuck, levelText, olsSlope, present, robustTrend, round, slice, zOf } from './stats.ts';
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
  /** Battery state of health lost per 30 days beyond the median car of its model that counts as a decline (points). */
  minSohDropPer30Days: z.number().min(0).default(1),
  /** Confidence that it falls faster than that median at all, against the car's own scatter (one-sided); 0.5: no test. */
  level: z.number().min(0.5).max(0.9999).default(0.99),
  /** Days with a battery reading needed to fit the trend… */
  minSohDays: z.number().int().min(3).default(14),
  /** …and in each of the window's first and last thirds: the car over the same days as its cohort, not part of them. */
  minSohDaysEachEnd: z.number().int().min(0).default(5),
  /**
   * …and beyond the cohort's own spread by this many robust standard deviations (the
   * interquartile range of the cohort's trends / 1.349): in a cold spell, cars in a colder place
   * or parked outside dip more than the median car. 0: the margin alone.
   */
  minRobustZ: z.number().min(0).default(3),
  /** Cars of the same model with a trend over the same days needed to compare with; fewer, no battery verdict. */
  minCohort: z.number().int().min(1).default(5),
  /** Compare with the model cohort over the same days: what every car does in the cold is not a fault. */
  cohortAware: z.boolean().default(true),
  windowDays: z.number().int().min(7).max(365).default(42),
}).strict();

/** Diagnostic trouble codes, or a battery whose state of health falls faster than its cohort's over the same days. */
export const carHealth: Detector<z.infer<typeof params>> = {
  id: 'car-health',
  description: 'one diagnostic trouble code (warning or critical) coming back, or a battery state of health falling faster than its model cohort over the same days',
  kinds: ['car'],
  params,
  windowDays: (p) => p.windowDays,
  features: () => [{ name: 'car.soh', measurement: 'car_trip', agg: 'mean', field: 'battery_soh_pct' }],
  cohortFeatures: () => ['slope(car.soh)'],
  events: true,
  detect({ series, from, to, params: p, cohort }) {
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
    // The battery: the car's robust trend, less its cohort's median trend over the same days.
    const soh = dropStuck(slice(series.daily.get('car.soh')!, from, to));
    const c = cohort.get('slope(car.soh)');
    const known = c && c.devices >= p.minCohort;
    const cohortSlope = p.cohortAware ? (known ? c.percentiles.p50 : NaN) : 0;
    // A least-squares line far from the decline needs no robust fit.
    const third = Math.floor(soh.length / 3);
    const covered = present(soh.slice(0, third)).length >= p.minSohDaysEachEnd && present(soh.slice(soh.length - third)).length >= p.minSohDaysEachEnd;
    const worth = covered && present(soh).length >= p.minSohDays && (olsSlope(soh) - cohortSlope) * 30 <= -p.minSohDropPer30Days / 3;
    const t = worth ? robustTrend(soh) : null;
    const excess = t ? (t.slope - cohortSlope) * 30 : NaN;
    const upper = t ? excess + zOf(p.level) * t.se * 30 : NaN;
    // Beyond the median by the margin, surely falling faster than it, and standing out of the
    // cohort's spread (cars in a colder place or parked outside dip more in the same weeks).
    const spread = p.cohortAware && known ? Math.max((c.percentiles.p75 - c.percentiles.p25) / 1.349, 1e-9) * 30 : NaN;
    const robustZ = p.cohortAware ? excess / spread : -Infinity;
    const declining = excess <= -p.minSohDropPer30Days && upper < 0 && robustZ <= -p.minRobustZ;
    if (dtcs.length < p.minDtc && !declining) return null;
    const codes = [...new Set(dtcs.map((e) => e.code))];
    const parts: string[] = [];
    const level = levelText(p.level);
    if (dtcs.length > 0) parts.push(`diagnostic trouble code ${codes[0]} reported ${dtcs.length} times on ${days} days in the last ${to - dtcFrom} days (the rule fires from ${p.minDtc} on ${p.minDtcDays} days)`);
    if (declining) parts.push(`battery health falling ${round(-excess, 2)} points per 30 days faster than the median ${c?.model ?? ''} car over the same days${p.cohortAware ? ` (which moved ${round(cohortSlope * 30, 2)}; ${round(-robustZ, 1)} robust standard deviations of the cohort beyond it)` : ''} (the rule fires from ${p.minSohDropPer30Days}), ${level} sure it falls faster than the median`);
    const figures: Record<string, number> = { dtc_events: dtcs.length, dtc_days: dtcs.length ? days : 0, distinct_dtcs: byCode.size, battery_declining: declining ? 1 : 0 };
    if (t) {
      figures.soh_change_per_30_days = round(t.slope * 30, 3);
      if (Number.isFinite(excess)) figures.soh_change_beyond_cohort_per_30_days = round(excess, 3);
    }
    if (Number.isFinite(cohortSlope)) figures.cohort_soh_change_per_30_days = round(cohortSlope * 30, 3);
    if (Number.isFinite(robustZ)) figures.cohort_robust_z = round(robustZ, 2);
    const lastSoh = present(soh).at(-1);
    if (lastSoh !== undefined) figures.battery_soh_pct = round(lastSoh, 1);
    return {
      summary: `${parts.join('; ')}.`.replace(/^./, (ch) => ch.toUpperCase()),
      figures,
      thresholds: { min_dtc: p.minDtc, min_dtc_days: p.minDtcDays, dtc_window_days: p.dtcWindowDays, min_soh_drop_per_30_days: p.minSohDropPer30Days, min_robust_z: p.minRobustZ },
      series: declining || dtcs.length === 0 ? { label: 'battery state of health', unit: '%', values: soh } : {
        label: `${codes[0]} per day`,
        // The chart spans the whole window, like every trigger's series.
        values: Array.from({ length: to - from }, (_, i) => dtcs.filter((e) => Math.floor((e.timeMs - series.startMs) / DAY_MS) - from === i).length),
      },
      ...(c && declining ? { cohort: { model: c.model, devices: c.devices, percentiles: Object.fromEntries(Object.entries(c.percentiles).map(([k, v]) => [k, round(v * 30, 3)])) } } : {}),
      confidence: declining
        ? { summary: `${level} sure the battery falls faster than its cohort's median, by ${round(-upper, 2)} points per 30 days at least (the rule needs a fitted ${p.minSohDropPer30Days})`, figure: 'soh_change_beyond_cohort_per_30_days', bound: round(upper, 3), threshold: 0, level: p.level }
        : { summary: `code ${codes[0]} on ${days} days (the rule needs ${p.minDtcDays})`, figure: 'dtc_days', bound: days, threshold: p.minDtcDays },
      offer: { label: declining ? 'Battery check' : `Diagnostics for ${codes.join(', ')}` },
    };
  },
};
