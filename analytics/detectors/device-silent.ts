import { z } from 'zod';
import { presence, householdFeatures } from './household.ts';
import { activeDays, pct, round, slice, sum } from './stats.ts';
import type { Detector } from './types.ts';
import { quietTail, silentDaysParam, USAGE } from './usage.ts';

const params = z.object({
  /** Days without a single reading while the household is at home (a washer rests between washes; a fridge never does). */
  silentDays: silentDaysParam,
  /** The longest ordinary absence: a silence the household's quiet could explain… */
  absenceDays: z.number().int().min(1).default(28),
  /** …counts only once it outlasts that by this many days (the device's last use before leaving, the day of return). */
  graceDays: z.number().int().min(0).default(7),
  /** Days with readings needed before the silence: it must have been an active device. */
  minActiveDays: z.number().int().min(1).default(10),
  /**
   * Confidence that the silence is not the device's ordinary rhythm: at its own rate before the
   * silence (readings a day, as if they came at random), a gap this long would happen by chance
   * within a year of its use with at most 1 − level (a device is looked at every day, and a washer
   * used twice a week has a hundred gaps a year).
   */
  level: z.number().min(0.5).max(0.9999).default(0.95),
  /** A device of the same kind in the household that began reporting within this many days of the silence replaced it. */
  replacementDays: z.number().int().min(0).default(14),
  /** Tell a silence from an absence (and from a replacement) by the owner's other devices. */
  absenceAware: z.boolean().default(true),
  windowDays: z.number().int().min(7).max(365).default(63),
}).strict();

/** A device that used to report and has gone quiet while its household is at home (or for longer than any absence). */
export const deviceSilent: Detector<z.infer<typeof params>> = {
  id: 'device-silent',
  description: 'no reading at all for longer than the kind allows while the household is at home, or longer than any absence, after an active period',
  kinds: Object.keys(USAGE),
  params,
  windowDays: (p) => p.windowDays,
  detection: (p) => ({ after: p.absenceDays + p.graceDays, before: p.minActiveDays }),
  features: (_p, kind) => [USAGE[kind].readings],
  householdFeatures,
  detect(ctx) {
    const { series, from, to, params: p, device, household } = ctx;
    const silentDays = (p.silentDays as Record<string, number>)[device.kind];
    const readings = slice(series.daily.get(USAGE[device.kind].readings.name)!, from, to);
    const quiet = quietTail(readings);
    if (quiet < silentDays || quiet >= readings.length) return null;
    // However it went quiet (at its usual rate, or fading first), a quiet spell this long is this rule's.
    const active = readings.slice(0, readings.length - quiet);
    const before = activeDays(active);
    if (before < p.minActiveDays) return null;
    const silenceStart = readings.length - quiet;
    // A washer used twice a week may rest two weeks by chance: the silence must also be unlikely at its own rate.
    const rate = sum(active) / active.length;
    // P(a gap ≥ L somewhere in a year) ≈ gaps a year × e^(−rate·L) ≤ 1 − level.
    const ownGap = Math.ceil(Math.log(Math.max(1, 365 * rate) / (1 - p.level)) / rate);
    const silent = Math.max(silentDays, ownGap);
    let atHome = quiet;
    let explained = '';
    if (p.absenceAware) {
      // Replaced: the household's new machine of the same kind began reporting as this one stopped.
      for (const m of household) {
        if (m.device.kind !== device.kind) continue;
        const r = slice(m.series.daily.get(USAGE[m.device.kind].readings.name)!, from, to);
        const first = r.findIndex((v) => v > 0);
        if (first > 0 && Math.abs(first - silenceStart) <= p.replacementDays && quietTail(r) < silentDays) return null;
      }
      if (!USAGE[device.kind].reportsWhileAway) {
        const pr = presence(ctx, from, to);
        // Silent while the household was at home is the device's own silence; an absence may explain the rest.
        atHome = pr.members > 0 ? pr.away.slice(silenceStart).filter((a) => !a).length : 0;
        const bound = Math.max(p.absenceDays + p.graceDays, silent);
        if (atHome < silent && quiet < bound) return null;
        if (atHome < silent) explained = pr.members > 0 ? ` The household was away for ${quiet - atHome} of those days: longer than an absence (${p.absenceDays} days) by ${p.graceDays} or more.` : ` Nothing else of the household reports, so the silence must outlast an absence (${p.absenceDays} days) by ${p.graceDays} or more.`;
        else explained = ` The household was at home (its other devices in use) on ${atHome} of those days.`;
      }
    }
    const lastSeen = new Date(series.startMs + (to - quiet) * 86_400_000 - 1).toISOString().slice(0, 10);
    return {
      summary: `No reading for ${quiet} days (last on ${lastSeen}); it reported on ${before} days before that, ${round(rate, 2)} readings a day. The rule fires after ${silentDays} silent days for a ${device.kind} at home${silent > silentDays ? ` (${silent} for this one: a shorter rest is within its own rhythm)` : ''}.${explained}`,
      figures: { silent_days: quiet, silent_days_at_home: atHome, active_days_before: before, readings_per_day_before: round(rate, 3) },
      thresholds: { silent_days: silentDays, silent_days_for_its_rate: silent, absence_days: p.absenceDays, grace_days: p.graceDays, min_active_days: p.minActiveDays },
      series: { label: 'readings per day', values: readings.map((v) => (Number.isNaN(v) ? 0 : v)) },
      confidence: atHome >= silent
        ? { summary: `silent ${atHome} days while the household was at home (the rule needs ${silent}: at its rate, a gap that long comes by chance in under ${pct(1 - p.level)} of years)`, figure: 'silent_days_at_home', bound: atHome, threshold: silent }
        : { summary: `silent ${quiet} days, beyond any absence (the rule needs ${Math.max(p.absenceDays + p.graceDays, silent)})`, figure: 'silent_days', bound: quiet, threshold: Math.max(p.absenceDays + p.graceDays, silent) },
    };
  },
};
