import type { Model } from '../../protocol/models.ts';
import type { SimDevice } from '../fleet.ts';
import { DAY_MS } from '../personas.ts';
import { clamp, hashKey, Rng, round } from '../rng.ts';
import {
  collapseDay, drawTimeOfDay, hourProfile, isWeekend, localToUtc, MINUTE_MS, on, patternDays, stuckAt, trickleDay, usageFactor, weekday, winter,
  type Counters, type DayEnv, type DeviceCtx, type KindSim, type RawReading,
} from './common.ts';
import { failureProfileOf, firmwareMultiplier, usageProfileOf, WASHER_FAULT_CODES } from '../profiles.ts';

type Program = 'cotton' | 'synthetics' | 'wool' | 'quick' | 'eco' | 'intensive' | 'delicates';

/** Per program: share of washes, temperatures offered, duration (s), spin cap (rpm), water factor. */
const PROGRAMS: Record<Program, { share: number; temps: number[]; duration: number; spin: number; water: number }> = {
  cotton: { share: 0.38, temps: [40, 40, 60], duration: 9_000, spin: 1_600, water: 1 },
  synthetics: { share: 0.2, temps: [30, 40], duration: 6_300, spin: 1_000, water: 1 },
  eco: { share: 0.15, temps: [40], duration: 10_800, spin: 1_600, water: 0.8 },
  quick: { share: 0.12, temps: [20, 30], duration: 1_800, spin: 1_000, water: 0.7 },
  intensive: { share: 0.05, temps: [60, 90], duration: 9_900, spin: 1_600, water: 1.2 },
  wool: { share: 0.05, temps: [20, 30], duration: 3_000, spin: 800, water: 0.9 },
  delicates: { share: 0.05, temps: [30], duration: 3_300, spin: 600, water: 0.9 },
};
const PROGRAM_NAMES = Object.keys(PROGRAMS) as Program[];

// Households wash in the morning and the evening on weekdays, through the day at weekends.
const WEEKDAY = hourProfile([0, 0, 0, 0, 0, 0, 0.3, 1.2, 1.6, 1.2, 0.8, 0.6, 0.5, 0.5, 0.6, 0.7, 0.9, 1.4, 1.8, 1.7, 1.2, 0.6, 0.2, 0]);
const WEEKEND = hourProfile([0, 0, 0, 0, 0, 0, 0, 0.3, 1.0, 1.6, 1.8, 1.6, 1.3, 1.2, 1.1, 1.0, 0.9, 0.8, 0.7, 0.5, 0.3, 0.1, 0, 0]);
// Saturday busiest; the shape is normalised so a week holds `cyclesPerWeek`.
const WEEKDAY_FACTOR = [1.1, 0.85, 0.85, 0.85, 0.85, 1.5, 1.0];
const WEEKDAY_NORM = 7 / WEEKDAY_FACTOR.reduce((a, b) => a + b, 0);

/** Share of cycles an overloader loads beyond capacity, and of a normal household. */
export const OVERLOAD_SHARE = { overloader: 0.8, normal: 0.03 } as const;

export interface WasherTraits {
  capacityKg: number;
  maxSpin: number;
  tzH: number;
  cyclesPerWeek: number;
  /** Typical load as a share of capacity. */
  loadFrac: number;
  programWeights: number[];
  vibrationG: number;
  autoDose: boolean;
  errorCode: string;
  /** Realistic: spread of the household's loads (share of capacity) around its typical one. */
  loadSpread: number;
  /** Realistic overloader: share of its cycles loaded beyond capacity, and by how much on average. */
  overloadShare: number;
  overloadBy: number;
  /** Realistic: load sensor standard deviation (kg) and cycle-to-cycle vibration variation. */
  loadSd: number;
  vibrationCv: number;
  /** Realistic bearing wear: growth of vibration per day once it has begun. */
  wearPerDay: number;
  /** Realistic usage collapse: one cycle about every this many days. */
  trickleEvery: number;
}

const NORMAL_WARNINGS = ['E13', 'E35', 'E40', 'E52'];

export const washerSim: KindSim<WasherTraits, number> = {
  machineTraits: ['capacityKg', 'maxSpin', 'vibrationG', 'vibrationCv', 'loadSd', 'wearPerDay', 'errorCode', 'autoDose'],

  traits(rng: Rng, device: SimDevice, model: Model, real, household): WasherTraits {
    const capacityKg = Number(model.capacity_kg);
    const p = device.persona;
    if (real) return realisticTraits(rng, device, model, real.noise, household);
    const cyclesPerWeek = p === 'heavy-user' ? rng.uniform(13, 18)
      : ['washer-overloader', 'bearing-wear', 'recurring-error', 'usage-collapse', 'silent-device'].includes(p) ? rng.uniform(3.5, 6)
      : clamp(rng.normal(4.2, 0.8), 2.5, 6);
    return {
      capacityKg,
      maxSpin: model.segment === 'entry' ? 1_200 : model.segment === 'mid' ? 1_400 : 1_600,
      tzH: rng.int(0, 2),
      cyclesPerWeek,
      loadFrac: rng.uniform(0.5, 0.68),
      programWeights: PROGRAM_NAMES.map((n) => PROGRAMS[n].share * rng.uniform(0.5, 1.5)),
      vibrationG: rng.uniform(0.35, 0.6),
      autoDose: rng.chance(0.5),
      errorCode: 'E21',
      loadSpread: 0.11, overloadShare: OVERLOAD_SHARE.overloader, overloadBy: 0.25, loadSd: 0, vibrationCv: 0.05, wearPerDay: 0.03, trickleEvery: 0,
    };
  },

  plan(ctx, day, rng, env): number {
    const t = ctx.traits;
    if (ctx.real) return realisticPlan(ctx, day, rng, env);
    const lambda = (t.cyclesPerWeek / 7) * WEEKDAY_FACTOR[weekday(day)] * WEEKDAY_NORM * winter(day, 0.08);
    // Washing is a household routine: less random than Poisson (a week rarely passes without
    // one), so the day's count is the expected one, dithered, with a little day-to-day mood.
    const x = lambda * Math.exp(rng.normal(0, 0.25));
    const n = Math.min(Math.floor(x) + (rng.chance(x - Math.floor(x)) ? 1 : 0), 6);
    if (usageFactor(ctx.device, day * DAY_MS) < 1) {
      // What is left after a collapse is a regular trickle (one person's washing), not
      // random silence: one cycle every k days, about a fifth of the old rate.
      const k = Math.round(clamp(7 / (0.2 * t.cyclesPerWeek), 4, 9));
      return (day - Math.floor(ctx.device.patternStartMs! / DAY_MS)) % k === 1 ? 1 : 0;
    }
    return n;
  },

  advance(plan: number, c: Counters): void {
    c.seq += plan;
  },

  day(ctx: DeviceCtx<WasherTraits>, day: number, cycles: number, start: Counters, rng: Rng, env: DayEnv): RawReading[] {
    const { traits: t, device } = ctx;
    if (ctx.real) return realisticDay(ctx, day, cycles, start, rng, env);
    const profile = isWeekend(day) ? WEEKEND : WEEKDAY;
    const starts = Array.from({ length: cycles }, () => drawTimeOfDay(rng, profile)).sort((a, b) => a - b);
    const out: RawReading[] = [];
    let busyUntil = 0;
    starts.forEach((local, i) => {
      const program = rng.weighted(PROGRAM_NAMES, t.programWeights);
      const spec = PROGRAMS[program];
      const begin = Math.max(localToUtc(day, local, t.tzH), busyUntil + rng.int(5, 40) * MINUTE_MS);
      const durationS = Math.round(spec.duration * rng.uniform(0.93, 1.07));
      const end = begin + durationS * 1000;
      busyUntil = end;
      const overloader = device.persona === 'washer-overloader';
      const over = rng.chance(overloader ? OVERLOAD_SHARE.overloader : OVERLOAD_SHARE.normal);
      const frac = over ? rng.uniform(1.05, overloader ? 1.45 : 1.15) : clamp(rng.normal(t.loadFrac, 0.11), 0.15, 0.97);
      const loadKg = round(t.capacityKg * frac * (program === 'wool' || program === 'delicates' ? 0.6 : 1), 1);
      const temp = rng.pick(spec.temps);
      const water = (10 + 4.5 * loadKg) * spec.water * rng.uniform(0.92, 1.08);
      const energy = 0.12 + (water * 0.4 * Math.max(0, temp - 15) * 4.186) / 3600 * rng.uniform(0.95, 1.05);
      const spin = Math.min(spec.spin, t.maxSpin) - (rng.chance(0.15) ? 200 : 0);
      // Heavier loads and faster spins shake more; a worn bearing makes it grow day by day.
      const wear = on(device, 'bearing-wear', end) ? Math.min(1 + 0.03 * patternDays(device, end, 'bearing-wear'), 3) : 1;
      const vibration = t.vibrationG * (0.8 + 0.35 * (loadKg / t.capacityKg)) * (0.9 + 0.1 * (spin / t.maxSpin)) * wear * rng.normal(1, 0.05);
      const body: Record<string, unknown> = {
        type: 'cycle', program, load_kg: loadKg, duration_s: durationS, water_l: round(water, 1), energy_kwh: round(energy, 3),
        temp_c: temp, spin_rpm: spin, vibration_g: round(clamp(vibration, 0.05, 20), 3),
      };
      if (t.autoDose) body.detergent_ml = Math.round(30 + 6 * loadKg);
      out.push({ timeMs: end, channel: 'telemetry', body, seq: start.seq + i });
      const error = errorFor(ctx, end, rng);
      if (error) out.push({ timeMs: end + 1_000, channel: 'events', body: { type: 'error', ...error } });
    });
    return out;
  },

  initial: () => ({ seq: 0, odo: 0 }),
};

/** Chance that a cycle of a recurring-error episode reports the code: an overloader's blocked pump follows its overloaded washes. */
export const RECURRING_CHANCE = { usual: 0.55, overloadedDay: 0.8, otherDay: 0.15 } as const;

/**
 * Does the device's recurring error follow its overloaded washes? On a realistic fleet, while it
 * also overloads: the code then comes mostly on days with an overloaded wash.
 */
export function errorsFollowOverload(device: SimDevice, ms: number): boolean {
  return on(device, 'recurring-error', ms) && on(device, 'washer-overloader', ms);
}

function errorFor(ctx: DeviceCtx<WasherTraits>, ms: number, rng: Rng, overloadedToday = false): Record<string, string> | null {
  const chance = ctx.real && errorsFollowOverload(ctx.device, ms) ? (overloadedToday ? RECURRING_CHANCE.overloadedDay : RECURRING_CHANCE.otherDay) : RECURRING_CHANCE.usual;
  if (on(ctx.device, 'recurring-error', ms) && rng.chance(chance)) {
    return { code: ctx.traits.errorCode, severity: 'warning', detail: 'drain pump blocked: water drained slowly' };
  }
  const x = rng.float();
  if (x < 0.012) return { code: 'E10', severity: 'info', detail: 'door opened during the cycle' };
  if (x < 0.015) return { code: rng.pick(NORMAL_WARNINGS), severity: 'warning' };
  return null;
}

// The realistic profile: households of every size, loads that sit anywhere up to a full drum,
// a load sensor and a vibration reading as noisy as real ones, absences, public holidays and
// the laundry that waits after a holiday.

function realisticTraits(rng: Rng, device: SimDevice, model: Model, noise: { load: number; vibration: number }, household: Rng): WasherTraits {
  const capacityKg = Number(model.capacity_kg);
  const p = device.persona;
  // How much a household washes is the household's (a replacement machine keeps its family).
  const usual = clamp(Math.exp(household.normal(Math.log(4.3), 0.35)), 1.5, 9);
  const near = device.traits?.includes('near-threshold') || device.traits?.includes('replacement');
  // The model's owners: a small drum filled fuller and washed on lighter programs, a big one on hotter, longer ones.
  const usage = usageProfileOf(model) ?? { loadShift: 0, programs: {} };
  return {
    capacityKg,
    maxSpin: model.segment === 'entry' ? 1_200 : model.segment === 'mid' ? 1_400 : 1_600,
    tzH: 0,
    // A large family: 13–18 cycles a week, three to four times the usual 4–5. A household whose
    // use collapses washed like an ordinary one before (3.5 a week at least: less has little to lose).
    cyclesPerWeek: p === 'heavy-user' ? rng.uniform(13, 18) : p === 'usage-collapse' ? Math.max(usual, 3.5) : usual,
    // Most households fill the drum half to three-quarters; some fill it to the brim (85–95%).
    // (A household already at the brim stays there, whatever the model.)
    loadFrac: near ? rng.uniform(0.85, 0.95) : rng.uniform(0.45, 0.72) + usage.loadShift,
    loadSpread: rng.uniform(0.06, 0.1),
    programWeights: PROGRAM_NAMES.map((n) => PROGRAMS[n].share * (usage.programs[n] ?? 1) * rng.uniform(0.5, 1.5)),
    vibrationG: rng.uniform(0.35, 0.6),
    autoDose: rng.chance(0.5),
    errorCode: 'E21',
    // An overloading household stuffs the drum on 40–80% of its washes, 10–35% beyond capacity on average.
    overloadShare: rng.uniform(0.4, 0.8),
    overloadBy: rng.uniform(0.1, 0.35),
    loadSd: noise.load * rng.uniform(0.8, 1.2),
    vibrationCv: noise.vibration * rng.uniform(0.77, 1.23),
    // A wearing bearing: vibration grows 1–3% a day, compounding, until it is repaired.
    wearPerDay: rng.uniform(0.01, 0.03),
    // After a collapse: 10–25% of the old rate, but never less than a wash every ten days.
    trickleEvery: Math.round(clamp(7 / (rng.uniform(0.1, 0.25) * Math.max(usual, 3.5)), 3, 10)),
  };
}

function realisticPlan(ctx: DeviceCtx<WasherTraits>, day: number, rng: Rng, env: DayEnv): number {
  const t = ctx.traits;
  const ms = day * DAY_MS;
  if (env.absent) return 0;
  if (on(ctx.device, 'usage-collapse', ms)) {
    const start = collapseDay(ctx.device);
    return trickleDay(day, start, t.trickleEvery, (j) => (hashKey([ctx.seed, ctx.device.id, 'trickle', j]) >>> 0) % 3 - 1) ? 1 : 0;
  }
  const wd = env.holiday ? 5 : weekday(day);
  const season = winter(day, 0.06); // a little more washing in winter
  // The laundry that waited: about twice the usual for three or four days after a holiday.
  const surge = env.sinceReturn > 0 ? 2 : 1;
  const lambda = (t.cyclesPerWeek / 7) * WEEKDAY_FACTOR[wd] * WEEKDAY_NORM * season * surge;
  const x = lambda * Math.exp(rng.normal(0, 0.3));
  return Math.min(Math.floor(x) + (rng.chance(x - Math.floor(x)) ? 1 : 0), 7);
}

function realisticDay(ctx: DeviceCtx<WasherTraits>, day: number, cycles: number, start: Counters, rng: Rng, env: DayEnv): RawReading[] {
  const { traits: t, device } = ctx;
  const tzH = ctx.real!.tzH;
  const profile = isWeekend(day) || env.holiday ? WEEKEND : WEEKDAY;
  const starts = Array.from({ length: cycles }, () => drawTimeOfDay(rng, profile)).sort((a, b) => a - b);
  const out: RawReading[] = [];
  let busyUntil = 0;
  // Machine faults from their own stream, so the household's washes are the same with or without them.
  const failure = failureProfileOf(ctx.model);
  const faults = failure ? new Rng(ctx.seed, device.id, 'machine-faults', day) : null;
  const firmwareFactor = firmwareMultiplier(ctx.model, ctx.firmware);
  let overloadedToday = false;
  starts.forEach((local, i) => {
    const program = rng.weighted(PROGRAM_NAMES, t.programWeights);
    const spec = PROGRAMS[program];
    const begin = Math.max(localToUtc(day, local, tzH), busyUntil + rng.int(5, 40) * MINUTE_MS);
    const durationS = Math.round(spec.duration * rng.uniform(0.93, 1.07));
    const end = begin + durationS * 1000;
    busyUntil = end;
    const small = program === 'wool' || program === 'delicates';
    const over = !small && on(device, 'washer-overloader', end) && rng.chance(t.overloadShare);
    const frac = over ? 1 + t.overloadBy * rng.uniform(0.3, 1.7) : clamp(rng.normal(t.loadFrac, t.loadSpread), 0.15, 1.12) * (small ? 0.6 : 1);
    const trueKg = t.capacityKg * frac;
    const loadKg = round(Math.max(0.1, stuckAt(env, 'load', end) ? t.capacityKg * t.loadFrac : trueKg + rng.normal(0, t.loadSd)), 1);
    const temp = rng.pick(spec.temps);
    const water = (10 + 4.5 * trueKg) * spec.water * rng.uniform(0.92, 1.08);
    const energy = 0.12 + (water * 0.4 * Math.max(0, temp - 15) * 4.186) / 3600 * rng.uniform(0.95, 1.05);
    const spin = Math.min(spec.spin, t.maxSpin) - (rng.chance(0.15) ? 200 : 0);
    const days = patternDays(device, end, 'bearing-wear');
    const wear = on(device, 'bearing-wear', end) ? Math.min((1 + t.wearPerDay) ** days, 3) : 1;
    const noise = Math.exp(rng.normal(-(t.vibrationCv ** 2) / 2, t.vibrationCv));
    const vibration = stuckAt(env, 'vibration', end) ? t.vibrationG : t.vibrationG * (0.8 + 0.35 * (trueKg / t.capacityKg)) * (0.9 + 0.1 * (spin / t.maxSpin)) * wear * noise;
    const body: Record<string, unknown> = {
      type: 'cycle', program, load_kg: loadKg, duration_s: durationS, water_l: round(water, 1), energy_kwh: round(energy, 3),
      temp_c: temp, spin_rpm: spin, vibration_g: round(clamp(vibration, 0.05, 20), 3),
    };
    if (t.autoDose) body.detergent_ml = Math.round(30 + 6 * trueKg);
    out.push({ timeMs: end, channel: 'telemetry', body, seq: start.seq + i });
    // A drum above its capacity strains the motor and unbalances the spin: that cycle and the
    // household's later washes of the day are likelier to end in a warning.
    if (trueKg > t.capacityKg) overloadedToday = true;
    const error = errorFor(ctx, end, rng, overloadedToday);
    if (error) out.push({ timeMs: end + 1_000, channel: 'events', body: { type: 'error', ...error } });
    if (failure && faults) {
      const p = (failure.errorsPer100Cycles / 100) * (overloadedToday ? failure.overloadMultiplier : 1) * firmwareFactor;
      const hit = faults.chance(p);
      const fault = faults.pick(WASHER_FAULT_CODES);
      if (hit && !error) out.push({ timeMs: end + 2_000, channel: 'events', body: { type: 'error', code: fault.code, severity: 'warning', detail: fault.detail } });
    }
  });
  return out;
}

/**
 * What an overloading household's habit amounts to (ground truth for the manifest): the share
 * of its washes loaded above the drum (wool and delicates are never overloaded) and the
 * typical load of those washes, kg.
 */
export function overloadOf(t: WasherTraits, realistic: boolean): { share: number; typicalKg: number } {
  let small = 0;
  let total = 0;
  PROGRAM_NAMES.forEach((n, i) => {
    total += t.programWeights[i];
    if (n === 'wool' || n === 'delicates') small += t.programWeights[i];
  });
  const nonSmall = total > 0 ? 1 - small / total : 1;
  return realistic
    ? { share: t.overloadShare * nonSmall, typicalKg: t.capacityKg * (1 + t.overloadBy) }
    : { share: OVERLOAD_SHARE.overloader * nonSmall, typicalKg: t.capacityKg * 1.25 };
}
