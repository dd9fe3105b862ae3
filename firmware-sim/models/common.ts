import type { Model } from '../../protocol/models.ts';
import { personaOn, type SimDevice } from '../fleet.ts';
import { DAY_MS, type Persona } from '../personas.ts';
import type { NoiseSettings } from '../profile.ts';
import type { Rng } from '../rng.ts';
import type { Absence } from '../world.ts';

export const HOUR_MS = 3_600_000;
export const MINUTE_MS = 60_000;

/** A reading before it is framed: its true time, channel, and the type and fields it carries. */
export interface RawReading {
  timeMs: number;
  channel: 'telemetry' | 'events';
  body: Record<string, unknown>;
  seq?: number;
}

/** Running counters that firmware keeps across days: message sequence, odometer. */
export interface Counters {
  seq: number;
  /** Odometer in units of 0.1 km, kept as an integer so sums are exact. */
  odo: number;
}

export interface DeviceCtx<T> {
  seed: number;
  epochMs: number;
  device: SimDevice;
  model: Model;
  traits: T;
  /** The firmware version the device runs (sent with every reading). */
  firmware: string;
  /** Realistic fleets: sensor noise and where the household lives; null on clean fleets. */
  real: { noise: NoiseSettings; region: number; tzH: number; owner: string } | null;
}

/** What a day is like for a device of a realistic fleet (clean fleets: `CLEAN_DAY`). */
export interface DayEnv {
  /** The household is away. */
  absent: Absence | undefined;
  /** Days since the household came back from an absence of five days or more (0: not just back). */
  sinceReturn: number;
  /** A public holiday: the household keeps its weekend rhythm. */
  holiday: boolean;
  /** Outdoor temperature, daily mean °C (NaN on clean fleets, which use the old seasonal factor). */
  ambientC: number;
  /** Sensors stuck during the day: a figure repeats one value over [fromMs, toMs). */
  stuck: Array<{ figure: string; fromMs: number; toMs: number }>;
}

export const CLEAN_DAY: DayEnv = Object.freeze({ absent: undefined, sinceReturn: 0, holiday: false, ambientC: NaN, stuck: [] }) as DayEnv;

/** Is the figure's sensor stuck at `ms`? */
export function stuckAt(env: DayEnv, figure: string, ms: number): boolean {
  for (const s of env.stuck) if (s.figure === figure && ms >= s.fromMs && ms < s.toMs) return true;
  return false;
}

/** The device carries `persona`'s pattern at `ms` (any of its episodes). */
export function on(device: SimDevice, persona: Persona, ms: number): boolean {
  return personaOn(device, persona, ms);
}

/**
 * One device kind. `plan` draws what a day holds from a cheap stream (counts, distances) so
 * that running counters over hundreds of days stay fast; `day` fills the readings in.
 */
export interface KindSim<T, P> {
  /** Traits of the machine itself (capacity, battery, sensors), which stay with it when it changes hands. */
  machineTraits: ReadonlyArray<keyof T>;
  /** `real`: the realistic profile's noise (null: clean); `household`: a stream of the household's own habits. */
  traits(rng: Rng, device: SimDevice, model: Model, real: DeviceCtx<T>['real'], household: Rng): T;
  plan(ctx: DeviceCtx<T>, day: number, rng: Rng, env: DayEnv): P;
  advance(plan: P, c: Counters): void;
  day(ctx: DeviceCtx<T>, day: number, plan: P, start: Counters, rng: Rng, env: DayEnv): RawReading[];
  /** Counters at the device's anchor day (odometer when the simulation begins). */
  initial(ctx: DeviceCtx<T>): Counters;
}

/** 0 = Monday … 6 = Sunday, for a day index counted from 1970-01-01 (a Thursday). */
export function weekday(day: number): number {
  return (day + 3) % 7;
}

export function isWeekend(day: number): boolean {
  return weekday(day) >= 5;
}

/** Day of the year, 0–365, close enough for seasonality. */
export function dayOfYear(day: number): number {
  const d = new Date(day * DAY_MS);
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / DAY_MS);
}

/** +amp in midwinter (mid-January), −amp in midsummer (northern hemisphere). */
export function winter(day: number, amp: number): number {
  return 1 + amp * Math.cos((2 * Math.PI * (dayOfYear(day) - 15)) / 365);
}

/** Share of the day's activity by local hour; sums to 1. */
export function hourProfile(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}

/** Draws a local time of day (ms after local midnight) from an hourly profile. */
export function drawTimeOfDay(rng: Rng, profile: readonly number[]): number {
  const hour = rng.weighted(HOURS, profile);
  return hour * HOUR_MS + Math.floor(rng.float() * HOUR_MS / 1000) * 1000;
}

const HOURS = Array.from({ length: 24 }, (_, h) => h);

/** Days since `persona`'s pattern began on the device (its first episode; negative before, −1 without one). */
export function patternDays(device: SimDevice, ms: number, persona: Persona = device.persona): number {
  const e = (device.episodes ?? (device.persona === persona ? [{ persona, fromMs: device.patternStartMs }] : [])).find((x) => x.persona === persona);
  return !e || e.fromMs === null ? -1 : (ms - e.fromMs) / DAY_MS;
}

/** Use multiplier of the usage-collapse persona on clean fleets: about a tenth of the device's baseline. */
export const COLLAPSE_FACTOR = 0.1;

export function usageFactor(device: SimDevice, ms: number): number {
  return on(device, 'usage-collapse', ms) ? COLLAPSE_FACTOR : 1;
}

/** Day number when usage-collapse began (for the regular trickle that follows it). */
export function collapseDay(device: SimDevice): number {
  const e = (device.episodes ?? [{ persona: device.persona, fromMs: device.patternStartMs }]).find((x) => x.persona === 'usage-collapse');
  return Math.floor((e?.fromMs ?? 0) / DAY_MS);
}

/**
 * A regular trickle: use the day after `startDay`, then about one day in `every`, each time a
 * day early or late (a pure function of the day, so any day can be generated alone).
 */
export function trickleDay(day: number, startDay: number, every: number, jitter: (j: number) => number): boolean {
  const j = Math.round((day - startDay - 1) / every);
  return j >= 0 && day === startDay + 1 + j * every + (j > 0 ? jitter(j) : 0);
}

/** UTC ms of a local time of day on `day`, for a device `tzH` hours east of UTC. */
export function localToUtc(day: number, localMs: number, tzH: number): number {
  return day * DAY_MS + localMs - tzH * HOUR_MS;
}
