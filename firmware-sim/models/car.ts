import type { Model } from '../../protocol/models.ts';
import type { SimDevice } from '../fleet.ts';
import { DAY_MS } from '../personas.ts';
import { clamp, round, type Rng } from '../rng.ts';
import {
  collapseDay, drawTimeOfDay, hourProfile, isWeekend, localToUtc, weekday, MINUTE_MS, on, patternDays, stuckAt, trickleDay, usageFactor, winter,
  type Counters, type DayEnv, type DeviceCtx, type KindSim, type RawReading,
} from './common.ts';
import { hashKey } from '../rng.ts';
import { ambientC } from '../world.ts';

type TripKind = 'out' | 'back' | 'errand' | 'long';
interface Trip {
  kind: TripKind;
  /** Distance in units of 0.1 km. */
  units: number;
}

const ERRANDS = hourProfile([0.05, 0.02, 0, 0, 0, 0.05, 0.2, 0.5, 0.8, 1, 1.1, 1.2, 1.2, 1.1, 1.1, 1.2, 1.3, 1.4, 1.3, 1.1, 0.8, 0.5, 0.3, 0.1]);
const NIGHT = hourProfile([1, 0.6, 0.3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.8, 1.2]);
const NORMAL_DTCS = ['P0420', 'P0171', 'P0442', 'P0128', 'U0100'];
/** Average days in a month with weekday and weekend shares. */
const WEEKDAYS_PER_MONTH = 21.7;
/** Working days a month once public holidays (about ten a year) are driven like weekends (realistic profile). */
const WORKDAYS_PER_MONTH = 20.9;
const WEEKEND_DAYS_PER_MONTH = 8.7;
/** Chance a low-mileage car is taken out on one of its usual days. */
const OUTING_CHANCE = 0.85;
/** What a low-mileage driver covers at most (realistic profile): 3,600 km a year. */
export const LOW_MILEAGE_KM_PER_MONTH = 300;
/** Where ordinary driving begins (realistic profile): 5,000 km a year, the low end of a near-threshold driver. */
export const ORDINARY_KM_PER_MONTH = 420;
/** Share of its old distance a car still covers after its use collapsed (realistic profile). */
export const COLLAPSE_KM_SHARE = 0.15;

export interface CarTraits {
  powertrain: 'ice' | 'hybrid' | 'ev';
  batteryKwh: number;
  tzH: number;
  kmPerMonth: number;
  commuter: boolean;
  commuteKm: number;
  errandKm: number;
  errandsWeekday: number;
  errandsWeekend: number;
  /** Weekdays (0 = Monday) a low-mileage car is taken out on; empty for the others. */
  outingDays: number[];
  aggressiveness: number;
  litresPer100: number;
  kwhPer100: number;
  odometerKm: number;
  sohPct: number;
  /**
   * Realistic: how far the battery management's health estimate dips in the cold (points per
   * °C of battery below 15 °C; reversible), how much warmer the battery stays than the air
   * (a garage), the reading's noise, the decline of a failing battery (points per 30 days).
   */
  coldDipPerC: number;
  garageC: number;
  sohSd: number;
  declinePer30: number;
}

export const carSim: KindSim<CarTraits, Trip[]> = {
  machineTraits: ['powertrain', 'batteryKwh', 'litresPer100', 'kwhPer100', 'odometerKm', 'sohPct', 'coldDipPerC', 'sohSd', 'declinePer30'],

  traits(rng: Rng, device: SimDevice, model: Model, real): CarTraits {
    const low = device.persona === 'car-low-mileage';
    const near = device.traits?.includes('near-threshold');
    // Realistic: a low-mileage car covers 1,200–3,600 km a year; most cars 7,000–30,000;
    // some ordinary ones 5,000–7,000 (420–580 km a month).
    const kmPerMonth = !real ? (low ? rng.uniform(120, 240) : rng.uniform(900, 2200))
      : low ? rng.uniform(100, LOW_MILEAGE_KM_PER_MONTH) : near ? rng.uniform(ORDINARY_KM_PER_MONTH, 580) : Math.exp(rng.uniform(Math.log(600), Math.log(2500)));
    // A car that sits most of the week, taken out on the same two or three days (shopping, visits).
    const outingDays = low ? rng.shuffle([0, 1, 2, 3, 4, 5, 6]).slice(0, rng.int(2, 3)).sort() : [];
    const commuter = !low && rng.chance(0.7);
    const commuteKm = commuter ? (0.6 * kmPerMonth) / (2 * (real ? WORKDAYS_PER_MONTH : WEEKDAYS_PER_MONTH) * 0.9) : 0;
    const errandsWeekday = commuter ? 0.6 : 1.5;
    const errandsWeekend = commuter ? 1.6 : 1.8;
    const errandsPerMonth = low
      ? 2 * OUTING_CHANCE * outingDays.length * (30 / 7)
      : errandsWeekday * WEEKDAYS_PER_MONTH + errandsWeekend * WEEKEND_DAYS_PER_MONTH;
    return {
      powertrain: model.powertrain as CarTraits['powertrain'],
      batteryKwh: Number(model.battery_kwh ?? 0),
      tzH: rng.int(0, 2),
      kmPerMonth,
      commuter,
      commuteKm,
      errandKm: ((commuter ? 0.4 : 1) * kmPerMonth) / errandsPerMonth,
      errandsWeekday,
      errandsWeekend,
      outingDays,
      aggressiveness: rng.uniform(0.1, 1),
      litresPer100: model.powertrain === 'hybrid' ? rng.uniform(4, 5.2) : rng.uniform(5.5, 7.5),
      kwhPer100: Number(model.battery_kwh ?? 0) > 60 ? rng.uniform(17, 21) : rng.uniform(14, 17),
      odometerKm: rng.uniform(2_000, 60_000),
      sohPct: rng.uniform(90, 99.5),
      coldDipPerC: real ? rng.uniform(0.1, 0.2) : 0,
      garageC: real && rng.chance(0.4) ? rng.uniform(4, 8) : 0,
      sohSd: real ? real.noise.soh * rng.uniform(0.7, 1.3) : 0.12,
      // A failing battery: 2–4 points a month (normal ageing is about 2 a year).
      declinePer30: real ? rng.uniform(2, 4) : 3,
    };
  },

  plan(ctx, day, rng, env): Trip[] {
    const t = ctx.traits;
    if (ctx.real) return realisticPlan(ctx, day, rng, env);
    const use = usageFactor(ctx.device, day * DAY_MS);
    const season = winter(day, -0.08); // a little more driving in summer
    const trips: Trip[] = [];
    const km = (mean: number) => Math.max(1, Math.round(mean * Math.exp(rng.normal(-0.08, 0.4)) * season * 10));
    const weekend = isWeekend(day);
    if (t.commuter && !weekend && rng.chance(0.9 * use)) {
      const d = Math.max(1, Math.round(t.commuteKm * rng.uniform(0.95, 1.08) * 10));
      trips.push({ kind: 'out', units: d }, { kind: 'back', units: d + rng.int(-3, 3) > 0 ? d + rng.int(-3, 3) : d });
    }
    if (use < 1) {
      // After a collapse the car still goes out, regularly but little: one short round trip
      // every five days, about 15% of its old distance.
      if ((day - Math.floor(ctx.device.patternStartMs! / DAY_MS)) % 5 !== 1) return trips;
      const d = Math.max(1, Math.round(((0.15 * t.kmPerMonth) / 30) * 2.5 * rng.uniform(0.85, 1.15) * 10));
      trips.push({ kind: 'errand', units: d }, { kind: 'errand', units: d });
      return trips;
    }
    if (t.outingDays.length > 0) {
      if (t.outingDays.includes(weekday(day)) && rng.chance(OUTING_CHANCE * use)) {
        const d = km(t.errandKm);
        trips.push({ kind: 'errand', units: d }, { kind: 'errand', units: d });
      }
      return trips;
    }
    const errands = rng.poisson((weekend ? t.errandsWeekend : t.errandsWeekday) * use);
    for (let i = 0; i < errands; i++) trips.push({ kind: 'errand', units: km(t.errandKm) });
    if (weekend && t.kmPerMonth > 600 && rng.chance(0.04 * use)) trips.push({ kind: 'long', units: Math.round(rng.uniform(150, 400) * 10) });
    return trips;
  },

  advance(trips: Trip[], c: Counters): void {
    c.seq += trips.length;
    for (const trip of trips) c.odo += trip.units;
  },

  day(ctx: DeviceCtx<CarTraits>, day: number, trips: Trip[], start: Counters, rng: Rng, env: DayEnv): RawReading[] {
    const { traits: t } = ctx;
    const tzH = ctx.real ? ctx.real.tzH : t.tzH;
    const weekend = isWeekend(day) || env.holiday;
    // Departure times first, then trips laid out in that order without overlapping.
    const departures = trips.map((trip) => {
      if (trip.kind === 'out') return rng.uniform(6.75, 8.75) * 3_600_000;
      if (trip.kind === 'back') return rng.uniform(16.5, 18.75) * 3_600_000;
      if (trip.kind === 'long') return rng.uniform(8, 11) * 3_600_000;
      return drawTimeOfDay(rng, !weekend && rng.chance(0.04) ? NIGHT : ERRANDS);
    });
    const order = trips.map((_, i) => i).sort((a, b) => (departures[a] < 5 * 3_600_000 ? departures[a] + DAY_MS : departures[a]) - (departures[b] < 5 * 3_600_000 ? departures[b] + DAY_MS : departures[b]));
    const out: RawReading[] = [];
    let odo = start.odo;
    let busyUntil = 0;
    let i = 0;
    for (const k of order) {
      const trip = trips[k];
      const localDep = departures[k] < 5 * 3_600_000 ? departures[k] + DAY_MS : departures[k];
      const begin = Math.max(localToUtc(day, Math.round(localDep / 1000) * 1000, tzH), busyUntil + rng.int(5, 45) * MINUTE_MS);
      const km = trip.units / 10;
      const avg = km < 10 ? rng.uniform(22, 35) : km < 40 ? rng.uniform(35, 60) : rng.uniform(60, 95);
      const durationS = Math.max(60, Math.round((km / avg) * 3600));
      const end = begin + durationS * 1000;
      busyUntil = end;
      odo += trip.units;
      const localHour = (((begin / 3_600_000 + tzH) % 24) + 24) % 24;
      const night = localHour >= 22 || localHour < 5;
      const body: Record<string, unknown> = {
        type: 'trip', distance_km: km, duration_s: durationS, avg_speed_kmh: round(km / (durationS / 3600), 1),
        max_speed_kmh: round(clamp(avg * rng.uniform(1.4, 2.0), avg, km > 100 ? 160 : 130), 1),
        harsh_brakes: rng.poisson((t.aggressiveness * km) / 15), harsh_accels: rng.poisson((t.aggressiveness * 0.7 * km) / 15),
        night_km: night ? km : 0, odometer_km: round(t.odometerKm + odo / 10, 1),
      };
      const cold = ctx.real ? 1 + 0.012 * Math.max(0, 15 - env.ambientC) : winter(day, 0.12);
      const urban = km < 15 ? 1.15 : 1;
      if (t.powertrain !== 'ev') body.fuel_l = round((km * t.litresPer100 * cold * urban) / 100, 2);
      if (t.powertrain === 'ev') body.energy_kwh = round((km * t.kwhPer100 * cold * rng.uniform(0.95, 1.05)) / 100, 2);
      if (t.powertrain === 'hybrid') body.energy_kwh = round(km * 0.03 * rng.uniform(0.8, 1.2), 2);
      if (t.batteryKwh > 0) body.battery_soh_pct = round(clamp(sohReading(ctx, end, env, rng), 0, 100), 1);
      out.push({ timeMs: end, channel: 'telemetry', body, seq: start.seq + i++ });
      const dtc = dtcFor(ctx, day, rng);
      if (dtc) out.push({ timeMs: begin + 120_000, channel: 'events', body: { type: 'error', ...dtc } });
    }
    out.sort((a, b) => a.timeMs - b.timeMs);
    return out;
  },

  initial: () => ({ seq: 0, odo: 0 }),
};

/** Battery state of health: ~2 points a year of normal ageing, 2–4 a month when it declines. */
function soh(ctx: DeviceCtx<CarTraits>, ms: number): number {
  // Ageing counted from the fleet epoch (the trait is the health then), so every page agrees.
  let s = ctx.traits.sohPct - 0.0055 * ((ms - ctx.epochMs) / DAY_MS);
  const days = patternDays(ctx.device, ms, 'car-battery-decline');
  if (days >= 0) s -= (ctx.traits.declinePer30 / 30) * days;
  return s;
}

/**
 * What the battery management reports: the health, dipped in the cold (a cold battery shows
 * less usable capacity; it comes back when it warms), with the estimate's noise; a stuck
 * reading repeats the value of the stuck spell's start.
 */
function sohReading(ctx: DeviceCtx<CarTraits>, ms: number, env: DayEnv, rng: Rng): number {
  const t = ctx.traits;
  if (!ctx.real) return soh(ctx, ms) + rng.normal(0, 0.12);
  const stuck = env.stuck.find((s) => s.figure === 'soh' && ms >= s.fromMs && ms < s.toMs);
  if (stuck) return soh(ctx, stuck.fromMs) - t.coldDipPerC * Math.max(0, 15 - (ambientC(ctx.seed, ctx.real.region, Math.floor(stuck.fromMs / DAY_MS)) + t.garageC));
  const dip = t.coldDipPerC * Math.max(0, 15 - (env.ambientC + t.garageC));
  return soh(ctx, ms) - dip + rng.normal(0, t.sohSd);
}

function dtcFor(ctx: DeviceCtx<CarTraits>, day: number, rng: Rng): Record<string, string> | null {
  const { device, traits: t } = ctx;
  if (on(device, 'car-dtc', day * DAY_MS) && rng.chance(0.3)) {
    return t.powertrain === 'ev'
      ? { code: 'P0AA6', severity: 'warning', detail: 'high-voltage isolation fault' }
      : { code: 'P0301', severity: 'warning', detail: 'cylinder 1 misfire detected' };
  }
  const x = rng.float();
  if (x < 0.0015) return { code: rng.pick(NORMAL_DTCS), severity: 'warning' };
  if (x < 0.004) return { code: 'P0456', severity: 'info', detail: 'small evaporative leak' };
  return null;
}

/**
 * The realistic profile: the car stays home while the household is away, or takes them (a long
 * drive out on the first day and back on the last); public holidays are driven like weekends;
 * a little more driving in summer; after a collapse, a short outing every four to six days.
 */
function realisticPlan(ctx: DeviceCtx<CarTraits>, day: number, rng: Rng, env: DayEnv): Trip[] {
  const t = ctx.traits;
  const ms = day * DAY_MS;
  const trips: Trip[] = [];
  if (env.absent) {
    if (env.absent.byCar && (day === env.absent.from || day === env.absent.to - 1)) {
      const d = Math.round(rng.uniform(150, 600) * 10);
      trips.push({ kind: 'long', units: d });
    }
    return trips;
  }
  const season = winter(day, -0.08);
  const km = (mean: number) => Math.max(1, Math.round(mean * Math.exp(rng.normal(-0.08, 0.4)) * season * 10));
  const weekend = isWeekend(day) || env.holiday;
  if (on(ctx.device, 'usage-collapse', ms)) {
    const every = 4 + ((hashKey([ctx.seed, ctx.device.id, 'trickle']) >>> 0) % 3);
    if (!trickleDay(day, collapseDay(ctx.device), every, (j) => (hashKey([ctx.seed, ctx.device.id, 'trickle', j]) >>> 0) % 3 - 1)) return trips;
    const d = Math.max(1, Math.round(((COLLAPSE_KM_SHARE * t.kmPerMonth) / 30) * (every / 2) * rng.uniform(0.85, 1.15) * 10));
    trips.push({ kind: 'errand', units: d }, { kind: 'errand', units: d });
    return trips;
  }
  if (t.commuter && !weekend && rng.chance(0.9)) {
    const d = Math.max(1, Math.round(t.commuteKm * rng.uniform(0.95, 1.08) * 10));
    const back = d + rng.int(-3, 3);
    trips.push({ kind: 'out', units: d }, { kind: 'back', units: back > 0 ? back : d });
  }
  if (t.outingDays.length > 0) {
    if (t.outingDays.includes(weekday(day)) && rng.chance(OUTING_CHANCE)) {
      const d = km(t.errandKm);
      trips.push({ kind: 'errand', units: d }, { kind: 'errand', units: d });
    }
    return trips;
  }
  const errands = rng.poisson(weekend ? t.errandsWeekend : t.errandsWeekday);
  for (let i = 0; i < errands; i++) trips.push({ kind: 'errand', units: km(t.errandKm) });
  if (weekend && t.kmPerMonth > 600 && rng.chance(0.04)) trips.push({ kind: 'long', units: Math.round(rng.uniform(150, 400) * 10) });
  return trips;
}
