import { DAY_MS } from './personas.ts';
import { hashKey, Rng } from './rng.ts';

/**
 * The world a realistic fleet lives in: the weather of three regions over the year, public
 * holidays, and each household's calendar of absences. Everything is a pure function of the
 * seed and its keys (region, owner, year), so any day can be generated on its own.
 */

/** Three climates, one per time zone the simulator uses: mild and maritime to cold and continental. */
export const REGIONS = [
  { name: 'west', tzH: 0, meanC: 11, amplitudeC: 7 },
  { name: 'central', tzH: 1, meanC: 9.5, amplitudeC: 9.5 },
  { name: 'east', tzH: 2, meanC: 8.5, amplitudeC: 11.5 },
] as const;

/** Day of the year, 0-based, of a day counted from 1970-01-01. */
export function dayOfYear(day: number): number {
  const d = new Date(day * DAY_MS);
  return Math.round((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / DAY_MS);
}

export function yearOf(day: number): number {
  return new Date(day * DAY_MS).getUTCFullYear();
}

function dayNumber(year: number, month: number, date: number): number {
  return Math.round(Date.UTC(year, month, date) / DAY_MS);
}

/** Weather: a smooth anomaly (knots 4 days apart, ±3 °C) on top of the seasonal mean. */
const KNOT_DAYS = 4;

function knot(seed: number, region: number, k: number): number {
  return new Rng(seed, 'weather', region, k).normal(0, 3);
}

/** Outdoor temperature (daily mean, °C) of a region on a day: coldest around 20 January. */
export function ambientC(seed: number, region: number, day: number): number {
  const r = REGIONS[region % REGIONS.length];
  const seasonal = r.meanC - r.amplitudeC * Math.cos((2 * Math.PI * (dayOfYear(day) - 20)) / 365.25);
  const k = Math.floor(day / KNOT_DAYS);
  const t = (day - k * KNOT_DAYS) / KNOT_DAYS;
  const w = (1 - Math.cos(Math.PI * t)) / 2;
  return seasonal + knot(seed, region, k) * (1 - w) + knot(seed, region, k + 1) * w;
}

/** Easter Sunday (anonymous Gregorian algorithm), as a day number. */
function easter(year: number): number {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const date = ((h + l - 7 * m + 114) % 31) + 1;
  return dayNumber(year, month - 1, date);
}

const holidayCache = new Map<number, Set<number>>();

/** Public holidays of a year: New Year, Easter, 1 May, Ascension, Whit Monday, Christmas. */
export function publicHolidays(year: number): Set<number> {
  let set = holidayCache.get(year);
  if (!set) {
    const e = easter(year);
    set = new Set([
      dayNumber(year, 0, 1), e - 2, e + 1, dayNumber(year, 4, 1), e + 39, e + 50,
      dayNumber(year, 11, 24), dayNumber(year, 11, 25), dayNumber(year, 11, 26), dayNumber(year, 11, 31),
    ]);
    holidayCache.set(year, set);
  }
  return set;
}

export function isPublicHoliday(day: number): boolean {
  return publicHolidays(yearOf(day)).has(day);
}

/** A household away from home: [from, to) in day numbers. */
export interface Absence {
  from: number;
  to: number;
  what: 'holiday' | 'trip';
  /** The family drove: the car leaves on the first day and comes back on the last. */
  byCar: boolean;
}

/**
 * A household's absences in one year: summer holidays (three households in four, one to three
 * weeks, now and then four), a Christmas or winter-sports week, Easter, and a few short trips
 * (weekends away, business trips of three to six days). One household in eight stays home all
 * year. Absences never overlap.
 */
export function absencesOfYear(seed: number, owner: string, year: number): Absence[] {
  const rng = new Rng(seed, 'absences', owner, year);
  if (rng.chance(0.12)) return [];
  const start = dayNumber(year, 0, 1);
  const want: Absence[] = [];
  const holiday = (from: number, days: number) => want.push({ from, to: from + days, what: 'holiday', byCar: rng.chance(0.4) });
  if (rng.chance(0.75)) {
    const days = rng.chance(0.1) ? rng.int(22, 28) : rng.weighted([7, 10, 14, 17, 21], [3, 2, 4, 1, 1.5]) + rng.int(-1, 1);
    holiday(start + rng.int(166, 232), days);
  }
  if (rng.chance(0.35)) {
    if (rng.chance(0.6)) holiday(dayNumber(year, 11, 19) + rng.int(0, 8), rng.int(5, 12));
    else holiday(start + rng.int(35, 60), rng.int(7, 10));
  }
  if (rng.chance(0.25)) holiday(easter(year) - rng.int(2, 6), rng.int(4, 10));
  const trips = rng.poisson(2);
  for (let i = 0; i < trips; i++) want.push({ from: start + rng.int(0, 360), to: 0, what: 'trip', byCar: false });
  for (const a of want) if (a.what === 'trip') a.to = a.from + rng.int(3, 6);
  want.sort((a, b) => a.from - b.from);
  const out: Absence[] = [];
  for (const a of want) if (out.length === 0 || a.from >= out[out.length - 1].to + 2) out.push(a);
  return out;
}

/** A household's region (and time zone): where the household lives. */
export function regionOf(seed: number, owner: string): number {
  return (hashKey([seed, 'region', owner]) >>> 0) % REGIONS.length;
}

/** Looks up a household's absences by day, a year at a time. */
export class Calendar {
  private readonly years = new Map<number, Absence[]>();

  constructor(private readonly seed: number, readonly owner: string) {}

  private of(year: number): Absence[] {
    let list = this.years.get(year);
    if (!list) {
      list = absencesOfYear(this.seed, this.owner, year);
      this.years.set(year, list);
    }
    return list;
  }

  /** The absence that holds `day`, if any (an absence may run into the next year). */
  absenceAt(day: number): Absence | undefined {
    const y = yearOf(day);
    for (const list of [this.of(y), this.of(y - 1)]) {
      for (const a of list) if (day >= a.from && day < a.to) return a;
    }
    return undefined;
  }

  /** Days since the household came back from an absence of five days or more (0 when not just back). */
  daysSinceReturn(day: number, within = 4): number {
    for (let k = 1; k <= within; k++) {
      const a = this.absenceAt(day - k);
      if (a && a.to === day - k + 1 && a.to - a.from >= 5) return k;
    }
    return 0;
  }

  /** Absences overlapping [fromDay, toDay). */
  between(fromDay: number, toDay: number): Absence[] {
    const out: Absence[] = [];
    for (let y = yearOf(fromDay) - 1; y <= yearOf(toDay - 1); y++) {
      for (const a of this.of(y)) if (a.to > fromDay && a.from < toDay) out.push(a);
    }
    return out;
  }
}
