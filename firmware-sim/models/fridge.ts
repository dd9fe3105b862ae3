import type { Model } from '../../protocol/models.ts';
import type { SimDevice } from '../fleet.ts';
import { DAY_MS } from '../personas.ts';
import { clamp, round, type Rng } from '../rng.ts';
import { HOUR_MS, hourProfile, isWeekend, on, stuckAt, usageFactor, winter, type Counters, type DayEnv, type DeviceCtx, type KindSim, type RawReading } from './common.ts';

/** A fridge reports its state every 10 minutes ("every few minutes" in the protocol). */
export const FRIDGE_INTERVAL_MS = 10 * 60_000;
export const FRIDGE_SLOTS_PER_DAY = DAY_MS / FRIDGE_INTERVAL_MS;

// Door openings by local hour: breakfast, lunch, and the evening meal.
const OPENINGS = hourProfile([0.1, 0.05, 0.05, 0.05, 0.05, 0.2, 0.8, 1.6, 1.5, 0.8, 0.7, 0.9, 1.5, 1.1, 0.7, 0.7, 1.0, 1.6, 2.2, 2.0, 1.4, 0.9, 0.5, 0.25]);

export interface FridgeTraits {
  volumeL: number;
  tzH: number;
  setpointC: number;
  freezerC: number;
  openingsPerDay: number;
  baseDuty: number;
  openSeconds: number;
  /** Realistic: the kitchen's warmth against the region's (°C), the temperature sensor's noise, what is left after a collapse. */
  kitchenOffsetC: number;
  tempSd: number;
  collapseFactor: number;
}

const NORMAL_WARNINGS = ['F03', 'F12', 'F21'];

export const fridgeSim: KindSim<FridgeTraits, number> = {
  machineTraits: ['volumeL', 'baseDuty', 'freezerC', 'tempSd'],

  traits(rng: Rng, device: SimDevice, model: Model, real, household): FridgeTraits {
    const crowded = device.persona === 'fridge-crowded';
    if (real) {
      // Door openings follow the household: 15–45 a day for most, 45–65 for a big family; a
      // fridge too small for its household is opened 70–120 times and its compressor works harder.
      const usual = Math.exp(household.uniform(Math.log(15), Math.log(45)));
      const near = device.traits?.includes('near-threshold');
      return {
        volumeL: Number(model.volume_l), tzH: 0, setpointC: rng.uniform(3.5, 5), freezerC: rng.uniform(-19.5, -17),
        openingsPerDay: crowded ? rng.uniform(70, 120) : near ? rng.uniform(45, 65) : usual,
        // A packed, undersized fridge cools badly besides being opened more.
        baseDuty: rng.uniform(0.28, 0.36) + (crowded ? rng.uniform(0.05, 0.1) : 0),
        openSeconds: rng.uniform(6, 16),
        kitchenOffsetC: rng.uniform(-1.5, 1.5), tempSd: real.noise.temp * rng.uniform(0.7, 1.3), collapseFactor: rng.uniform(0.1, 0.25),
      };
    }
    return {
      volumeL: Number(model.volume_l),
      tzH: rng.int(0, 2),
      setpointC: rng.uniform(3.5, 5),
      freezerC: rng.uniform(-19.5, -17),
      // A crowded fridge serves a household too big for it: far more openings, a busier compressor.
      openingsPerDay: crowded ? rng.uniform(75, 110) : rng.uniform(18, 40),
      baseDuty: rng.uniform(0.3, 0.36) + (crowded ? 0.1 : 0),
      openSeconds: rng.uniform(6, 16),
      kitchenOffsetC: 0, tempSd: 0.15, collapseFactor: 0.1,
    };
  },

  plan: () => FRIDGE_SLOTS_PER_DAY,

  advance(slots: number, c: Counters): void {
    c.seq += slots;
  },

  day(ctx: DeviceCtx<FridgeTraits>, day: number, slots: number, start: Counters, rng: Rng, env: DayEnv): RawReading[] {
    const { traits: t, device } = ctx;
    if (ctx.real) return realisticDay(ctx, day, slots, start, rng, env);
    const out: RawReading[] = [];
    const weekend = isWeekend(day) ? 1.25 : 1;
    const summer = winter(day, -0.1); // warmer kitchens in summer: more cooling work
    // The failing-cooling persona has a long warm episode on most days once it has begun.
    const events = dayEvents(device, day * DAY_MS + DAY_MS, slots, rng);
    const { excursion } = events;
    for (let s = 0; s < slots; s++) {
      const localMs = s * FRIDGE_INTERVAL_MS + t.tzH * HOUR_MS;
      const hour = Math.floor(localMs / HOUR_MS) % 24;
      const timeMs = day * DAY_MS + s * FRIDGE_INTERVAL_MS;
      const use = usageFactor(device, timeMs);
      const lambda = (t.openingsPerDay * OPENINGS[hour] * FRIDGE_INTERVAL_MS) / HOUR_MS * weekend * summer * use;
      const openings = rng.poisson(lambda);
      const openS = openings * t.openSeconds * rng.uniform(0.6, 1.5);
      let duty = t.baseDuty * summer * (use < 1 ? 0.85 : 1) + 0.012 * openings + rng.normal(0, 0.02);
      let temp = t.setpointC + 0.3 * Math.min(openings, 4) + rng.normal(0, 0.15);
      let freezer = t.freezerC + 0.1 * Math.min(openings, 4) + rng.normal(0, 0.25);
      if (excursion) {
        const into = (localMs % DAY_MS) - excursion.from;
        const length = excursion.hours * HOUR_MS;
        if (into >= 0 && into < length) {
          // Warms over the first hour, stays up, the compressor running flat out without effect.
          const ramp = Math.min(1, into / HOUR_MS);
          temp = t.setpointC + (excursion.peak - t.setpointC) * ramp + rng.normal(0, 0.2);
          freezer += 6 * ramp;
          duty = 1;
        }
      }
      emitSlot(out, { timeMs, seq: start.seq + s, slot: s, volumeL: t.volumeL, temp, freezer, openings, openS, duty }, events);
    }
    return out;
  },

  initial: () => ({ seq: 0, odo: 0 }),
};

/**
 * The realistic profile: the kitchen follows the weather (heating keeps it near 20 °C in
 * winter, summer warms it), the compressor and the energy follow the kitchen; an absent
 * household opens no door and the fridge idles; the temperature sensor is noisy and may stick.
 */
function realisticDay(ctx: DeviceCtx<FridgeTraits>, day: number, slots: number, start: Counters, rng: Rng, env: DayEnv): RawReading[] {
  const { traits: t, device } = ctx;
  const tzH = ctx.real!.tzH;
  const out: RawReading[] = [];
  const weekend = isWeekend(day) || env.holiday ? 1.25 : 1;
  const kitchenC = 20.5 + 0.4 * Math.max(0, env.ambientC - 16) + t.kitchenOffsetC;
  const warmth = 1 + 0.035 * (kitchenC - 20);
  // Each door opening lets warm air in: about 0.25% more compressor work over the day.
  const expectedOpenings = env.absent ? 0 : t.openingsPerDay * weekend * (on(device, 'usage-collapse', day * DAY_MS) ? t.collapseFactor : 1);
  const doorLoad = 1 + 0.0025 * expectedOpenings;
  const dayEnd = day * DAY_MS + DAY_MS;
  const events = dayEvents(device, dayEnd, slots, rng);
  const { excursion } = events;
  const stuckTemp = t.setpointC + 0.3;
  for (let s = 0; s < slots; s++) {
    const localMs = s * FRIDGE_INTERVAL_MS + tzH * HOUR_MS;
    const hour = Math.floor(localMs / HOUR_MS) % 24;
    const timeMs = day * DAY_MS + s * FRIDGE_INTERVAL_MS;
    const use = env.absent ? 0 : on(device, 'usage-collapse', timeMs) ? t.collapseFactor : 1;
    const lambda = (t.openingsPerDay * OPENINGS[hour] * FRIDGE_INTERVAL_MS) / HOUR_MS * weekend * use;
    const openings = rng.poisson(lambda);
    const openS = openings * t.openSeconds * rng.uniform(0.6, 1.5);
    let duty = t.baseDuty * warmth * doorLoad + 0.012 * openings + rng.normal(0, 0.02);
    let temp = t.setpointC + 0.05 * (kitchenC - 20) + 0.3 * Math.min(openings, 4);
    let freezer = t.freezerC + 0.1 * Math.min(openings, 4) + rng.normal(0, 0.25);
    if (excursion) {
      const into = (localMs % DAY_MS) - excursion.from;
      const length = excursion.hours * HOUR_MS;
      if (into >= 0 && into < length) {
        const ramp = Math.min(1, into / HOUR_MS);
        temp = t.setpointC + (excursion.peak - t.setpointC) * ramp;
        freezer += 6 * ramp;
        duty = 1;
      }
    }
    const reported = stuckAt(env, 'temp', timeMs) ? stuckTemp : temp + rng.normal(0, t.tempSd);
    emitSlot(out, { timeMs, seq: start.seq + s, slot: s, volumeL: t.volumeL, temp: reported, freezer, openings, openS, duty }, events);
  }
  return out;
}

/** What happens to a fridge on a day besides its readings: a warm episode, its errors and a stray warning. */
interface DayEvents {
  excursion: { from: number; hours: number; peak: number } | null;
  errorSlots: Set<number>;
  warning: string | null;
  warnSlot: number;
}

/** The day's events, drawn in the same order by both profiles (a seed gives the same days). */
function dayEvents(device: DeviceCtx<FridgeTraits>['device'], dayEnd: number, slots: number, rng: Rng): DayEvents {
  // The failing-cooling persona has a long warm episode on most days once it has begun.
  const excursion = on(device, 'fridge-temp-excursion', dayEnd) && rng.chance(0.85)
    ? { from: rng.uniform(8, 17) * HOUR_MS, hours: rng.uniform(3, 7), peak: rng.uniform(9.5, 13) }
    : null;
  const recurring = on(device, 'recurring-error', dayEnd) ? rng.poisson(1.3) : 0;
  const warning = rng.chance(0.01) ? rng.pick(NORMAL_WARNINGS) : null;
  const errorSlots = new Set<number>();
  for (let i = 0; i < recurring; i++) errorSlots.add(rng.int(0, slots - 1));
  const warnSlot = warning ? rng.int(0, slots - 1) : -1;
  return { excursion, errorSlots, warning, warnSlot };
}

/** One slot's state reading (duty bounded, energy from it), then the slot's events. */
function emitSlot(
  out: RawReading[],
  r: { timeMs: number; seq: number; slot: number; volumeL: number; temp: number; freezer: number; openings: number; openS: number; duty: number },
  events: DayEvents,
): void {
  const duty = clamp(r.duty, 0.05, 1);
  const energy = ((r.volumeL / 1000) * 1.2 * (duty / 0.33)) / FRIDGE_SLOTS_PER_DAY;
  out.push({
    timeMs: r.timeMs, channel: 'telemetry', seq: r.seq,
    body: {
      type: 'state', temp_c: round(r.temp, 2), freezer_temp_c: round(r.freezer, 2), door_openings: r.openings,
      door_open_s: round(r.openS, 1), compressor_duty: round(duty, 3), energy_kwh: round(energy, 4),
    },
  });
  if (events.errorSlots.has(r.slot)) out.push({ timeMs: r.timeMs + 1_000, channel: 'events', body: { type: 'error', code: 'F07', severity: 'warning', detail: 'defrost heater fault: evaporator iced up' } });
  if (r.slot === events.warnSlot) out.push({ timeMs: r.timeMs + 2_000, channel: 'events', body: { type: 'error', code: events.warning, severity: 'warning' } });
}
