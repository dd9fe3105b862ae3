import type { Model } from '../../protocol/models.ts';
import type { SimDevice } from '../fleet.ts';
import { DAY_MS } from '../personas.ts';
import type { Rng } from '../rng.ts';

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
}

/**
 * One device kind. `plan` draws what a day holds from a cheap stream (counts, distances) so
 * that running counters over hundreds of days stay fast; `day` fills the readings in.
 */
export interface KindSim<T, P> {
  traits(rng: Rng, device: SimDevice, model: Model): T;
  plan(ctx: DeviceCtx<T>, day: number, rng: Rng): P;
  advance(plan: P, c: Counters): void;
  day(ctx: DeviceCtx<T>, day: number, plan: P, start: Counters, rng: Rng): RawReading[];
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

/** Is the persona's pattern under way at `ms`? */
export function patternOn(device: SimDevice, ms: number): boolean {
  return device.patternStartMs !== null && ms >= device.patternStartMs;
}

/** Days since the pattern began (negative before). */
export function patternDays(device: SimDevice, ms: number): number {
  return device.patternStartMs === null ? -1 : (ms - device.patternStartMs) / DAY_MS;
}

/** Use multiplier of the usage-collapse persona: about a tenth of the device's baseline. */
export const COLLAPSE_FACTOR = 0.1;

export function usageFactor(device: SimDevice, ms: number): number {
  return device.persona === 'usage-collapse' && patternOn(device, ms) ? COLLAPSE_FACTOR : 1;
}

/** UTC ms of a local time of day on `day`, for a device `tzH` hours east of UTC. */
export function localToUtc(day: number, localMs: number, tzH: number): number {
  return day * DAY_MS + localMs - tzH * HOUR_MS;
}
