import { z } from 'zod';
import { linkFigures, linkSentence, overloadFeatures, overloadLink } from './overload.ts';
import { DAY_MS, type Detector } from './types.ts';

const params = z.object({
  /** The same code this many times in the window… */
  minCount: z.number().int().min(2).default(3),
  /** …on at least this many different days. */
  minDays: z.number().int().min(1).default(2),
  /** Severities that count; `info` events are notes, not faults. */
  severities: z.array(z.enum(['info', 'warning', 'critical'])).min(1).default(['warning', 'critical']),
  /** Codes that count (regular expression); default: every code. */
  codePattern: z.string().default('.*'),
  windowDays: z.number().int().min(1).max(365).default(28),
  /**
   * On a washer, what counts as an overloaded wash when the code's reports are set against them
   * (as washer-overloaded counts it): above capacity × this factor by more than the sensor's accuracy (kg).
   */
  overCapacityFactor: z.number().min(0.5).max(3).default(1),
  sensorMarginKg: z.number().min(0).max(5).default(0.5),
}).strict();

/** The most frequent error code of the window, when it keeps coming back. */
export const recurringError: Detector<z.infer<typeof params>> = {
  id: 'recurring-error',
  description: 'the same error code reported again and again on different days',
  kinds: ['washer', 'fridge', 'car'],
  params,
  windowDays: (p) => p.windowDays,
  // A washer's load, to tell whether the code follows its overloaded washes.
  features: (p, kind) => (kind === 'washer' ? overloadFeatures(p) : []),
  events: true,
  detect({ series, from, to, params: p }) {
    const fromMs = series.startMs + from * DAY_MS;
    const toMs = series.startMs + to * DAY_MS;
    const re = new RegExp(`^(?:${p.codePattern})$`);
    const byCode = new Map<string, { n: number; days: Set<number>; critical: number }>();
    for (const e of series.events) {
      if (e.timeMs < fromMs || e.timeMs >= toMs || !p.severities.includes(e.severity as never) || !re.test(e.code)) continue;
      const c = byCode.get(e.code) ?? { n: 0, days: new Set<number>(), critical: 0 };
      c.n++;
      c.days.add(Math.floor((e.timeMs - series.startMs) / DAY_MS));
      if (e.severity === 'critical') c.critical++;
      byCode.set(e.code, c);
    }
    const [code, best] = [...byCode.entries()].sort((a, b) => b[1].n - a[1].n)[0] ?? [];
    if (!code || best.n < p.minCount || best.days.size < p.minDays) return null;
    const values = Array.from({ length: to - from }, () => 0);
    for (const e of series.events) {
      if (e.code !== code || e.timeMs < fromMs || e.timeMs >= toMs || !p.severities.includes(e.severity as never)) continue;
      values[Math.floor((e.timeMs - fromMs) / DAY_MS)]++;
    }
    // A washer whose fault follows its overloaded washes: the visit names the usage cause, as
    // the overload upsell of the same machine does.
    const link = overloadLink(series, from, to, p, (e) => e.code === code && p.severities.includes(e.severity as never));
    const cause = link?.follows ? ` ${linkSentence(link, `reports of ${code}`)} Overloading is a likely cause: the drum is loaded beyond its capacity.` : '';
    return {
      summary: `Error ${code} was reported ${best.n} times on ${best.days.size} different days in the last ${to - from} days (the rule fires from ${p.minCount} times on ${p.minDays} days).${cause}`,
      figures: { occurrences: best.n, days_with_error: best.days.size, critical: best.critical, distinct_codes: byCode.size, ...(link ? linkFigures(link, 'occurrences') : {}) },
      thresholds: { min_count: p.minCount, min_days: p.minDays },
      series: { label: `${code} per day`, values },
      confidence: { summary: `${code} ${best.n} times on ${best.days.size} days (the rule needs ${p.minCount} on ${p.minDays})`, figure: 'days_with_error', bound: best.days.size, threshold: p.minDays },
      offer: { label: `Service visit for recurring error ${code}` },
    };
  },
};
