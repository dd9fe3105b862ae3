import type { Catalogue } from '../protocol/models.ts';
import { topics, type ReadingChannel } from '../protocol/topics.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { activeAt, episodesOf, personaOn, type Fleet, type SimDevice } from './fleet.ts';
import { carSim, LOW_MILEAGE_KM_PER_MONTH, ORDINARY_KM_PER_MONTH } from './models/car.ts';
import { CLEAN_DAY, HOUR_MS, type Counters, type DayEnv, type DeviceCtx, type KindSim, type RawReading } from './models/common.ts';
import { fridgeSim } from './models/fridge.ts';
import { washerSim } from './models/washer.ts';
import { DAY_MS, FAULT_RATE, type Kind } from './personas.ts';
import { DEFAULT_NOISE } from './profile.ts';
import { firmwareOf } from './profiles.ts';
import { Rng } from './rng.ts';
import { ambientC, Calendar, isPublicHoliday, REGIONS, regionOf } from './world.ts';

/** What the gateway is meant to do with a reading: keep it, refuse it (and why), or store it once. */
export type Expect = 'ok' | 'duplicate' | 'GW_ERR_INVALID_READING' | 'GW_ERR_TS_TOO_OLD';

/** One reading as the device sends it, with the ground truth about it. */
export interface SimReading {
  deviceId: string;
  channel: ReadingChannel;
  topic: string;
  /** The reading's true time (its `ts`, unless the device clock is wrong). */
  timeMs: number;
  /** The JSON object the device publishes. */
  reading: Record<string, unknown>;
  expect: Expect;
}

const SIMS: Record<Kind, KindSim<any, any>> = { washer: washerSim, fridge: fridgeSim, car: carSim };

/** History is generated from this many days before the fleet epoch (running counters start there). */
export const HISTORY_DAYS = 1_000;
/** Days of plans drawn from one stream: long enough to be cheap, short enough to page. */
const BLOCK_DAYS = 64;
/** What a device with a reset real-time clock stamps: 2000-01-01 plus the time of day. */
const RTC_RESET_MS = Date.UTC(2000, 0, 1);

/** The figure of each kind whose sensor may stick (realistic profile). */
const STUCK_FIGURES: Record<Kind, string[]> = { washer: ['load', 'vibration'], fridge: ['temp'], car: ['soh'] };

/** A spell of a realistic device's year: a stuck sensor or a connectivity outage (readings lost). */
export interface Spell {
  what: 'stuck' | 'missing';
  figure?: string;
  fromMs: number;
  toMs: number;
}

/**
 * A device's stuck sensors (hours to five days) and outages (1–36 hours) in a year, as many as
 * the fleet's noise settings ask for on average: a pure function of (seed, device, year).
 */
export function spellsOfYear(seed: number, device: SimDevice, year: number, noise: { stuck: number; missing: number }): Spell[] {
  const rng = new Rng(seed, device.id, 'spells', year);
  const start = Date.UTC(year, 0, 1);
  const yearMs = Date.UTC(year + 1, 0, 1) - start;
  const out: Spell[] = [];
  const figures = STUCK_FIGURES[device.kind];
  for (let i = rng.poisson(noise.stuck); i > 0; i--) {
    const fromMs = start + Math.floor(rng.float() * yearMs);
    out.push({ what: 'stuck', figure: rng.pick(figures), fromMs, toMs: fromMs + Math.round(rng.uniform(6, 120)) * HOUR_MS });
  }
  for (let i = rng.poisson(noise.missing); i > 0; i--) {
    const fromMs = start + Math.floor(rng.float() * yearMs);
    out.push({ what: 'missing', fromMs, toMs: fromMs + Math.round(rng.uniform(1, 36)) * HOUR_MS });
  }
  return out.sort((a, b) => a.fromMs - b.fromMs);
}

/**
 * One device's readings as a pure function of (fleet seed and epoch, device, time range).
 * Caches only what makes sequential pages cheap (the last plan block and counters).
 */
export class DeviceSim {
  readonly device: SimDevice;
  /** The device's context under each of its owners: [until this day, ctx], the current owner last. */
  private readonly ctxs: Array<{ untilDay: number; ctx: DeviceCtx<unknown>; calendar: Calendar | null }>;
  private readonly sim: KindSim<unknown, unknown>;
  private readonly anchorDay: number;
  private readonly noise: Fleet['noise'];
  private readonly spells = new Map<number, Spell[]>();
  private block: { index: number; plans: unknown[] } | null = null;
  private counters: { day: number; c: Counters } | null = null;
  /** The firmware version it runs, sent with every reading. */
  readonly firmware: string;

  constructor(fleet: Fleet, device: SimDevice, catalogue: Catalogue) {
    const model = catalogue.get(device.model);
    if (!model || model.kind !== device.kind) throw new UsageGatewayError('GW_ERR_SIM_FLEET', `device ${device.id}: model ${device.model} is not a ${device.kind} in the catalogue`);
    this.device = device;
    this.sim = SIMS[device.kind];
    const realistic = (fleet.profile ?? 'clean') === 'realistic';
    this.noise = realistic ? fleet.noise ?? DEFAULT_NOISE : undefined;
    // A resold device lives with each of its owners in turn: their home, their habits.
    this.firmware = firmwareOf(fleet.seed, device);
    const owners = [...(device.previousOwners ?? []).map((p) => ({ owner: p.owner, untilDay: Math.floor(p.untilMs / DAY_MS) })), { owner: device.owner, untilDay: Infinity }];
    this.ctxs = owners.map(({ owner, untilDay }, i) => {
      const region = regionOf(fleet.seed, owner);
      const real = realistic ? { noise: this.noise!, region, tzH: REGIONS[region].tzH, owner } : null;
      // A replacement keeps the household's habits: its household stream is the old machine's.
      const habitsOf = device.replaces ?? device.id;
      const traitsRng = i === 0 ? new Rng(fleet.seed, device.id, 'traits') : new Rng(fleet.seed, device.id, 'traits', 'owner', i);
      const traits = this.sim.traits(traitsRng, device, model, real, new Rng(fleet.seed, habitsOf, 'household', owner)) as Record<string, unknown>;
      // A new owner brings new habits; the machine (its battery, drum, sensors) stays what it was.
      if (i > 0) {
        const first = this.sim.traits(new Rng(fleet.seed, device.id, 'traits'), device, model, real, new Rng(fleet.seed, habitsOf, 'household', owners[0].owner)) as Record<string, unknown>;
        for (const k of this.sim.machineTraits as readonly unknown[] as readonly string[]) traits[k] = first[k];
      }
      return { untilDay, ctx: { seed: fleet.seed, epochMs: fleet.epochMs, device, model, traits, firmware: this.firmware, real }, calendar: realistic ? new Calendar(fleet.seed, owner) : null };
    });
    this.anchorDay = Math.floor(fleet.epochMs / DAY_MS) - HISTORY_DAYS;
  }

  private ctxAt(day: number): { ctx: DeviceCtx<unknown>; calendar: Calendar | null } {
    for (const c of this.ctxs) if (day < c.untilDay) return c;
    return this.ctxs[this.ctxs.length - 1];
  }

  private readonly envs = new Map<number, DayEnv>();

  /** What the day is like for the device (realistic fleets): absence, holiday, weather, stuck sensors. */
  envAt(day: number): DayEnv {
    const { ctx, calendar } = this.ctxAt(day);
    if (!ctx.real || !calendar) return CLEAN_DAY;
    let env = this.envs.get(day);
    if (!env) {
      // Each day is asked for by its plan and by its readings: keep the recent ones.
      if (this.envs.size > 256) this.envs.clear();
      env = this.computeEnv(day, ctx, calendar);
      this.envs.set(day, env);
    }
    return env;
  }

  private computeEnv(day: number, ctx: DeviceCtx<unknown>, calendar: Calendar): DayEnv {
    const from = day * DAY_MS;
    return {
      absent: calendar.absenceAt(day),
      sinceReturn: calendar.daysSinceReturn(day),
      holiday: isPublicHoliday(day),
      ambientC: ambientC(ctx.seed, ctx.real!.region, day),
      stuck: this.spellsAround(from, from + 2 * DAY_MS).filter((s) => s.what === 'stuck').map((s) => ({ figure: s.figure!, fromMs: s.fromMs, toMs: s.toMs })),
    };
  }

  /**
   * Where the weather moves the device's figures on a day (realistic fleets): a traction
   * battery cold enough for its health reading to dip by a point or more, a kitchen hot enough
   * (outdoors 22 °C and over) for the fridge to work visibly harder.
   */
  seasonAt(day: number, env = this.envAt(day)): string | null {
    const { ctx } = this.ctxAt(day);
    if (!ctx.real) return null;
    const t = ctx.traits as { coldDipPerC?: number; garageC?: number; batteryKwh?: number };
    if (this.device.kind === 'car' && (t.batteryKwh ?? 0) > 0 && (t.coldDipPerC ?? 0) * Math.max(0, 15 - (env.ambientC + (t.garageC ?? 0))) >= 1) return 'cold battery';
    if (this.device.kind === 'fridge' && env.ambientC >= 22) return 'hot kitchen';
    return null;
  }

  /** The device's traits (its current owner's, or those of the owner at `day`). */
  traitsAt(day: number): unknown {
    return this.ctxAt(day).ctx.traits;
  }

  /** Stuck and missing spells overlapping [fromMs, toMs) (realistic fleets). */
  spellsAround(fromMs: number, toMs: number): Spell[] {
    if (!this.noise) return [];
    const out: Spell[] = [];
    for (let y = new Date(fromMs).getUTCFullYear() - 1; y <= new Date(toMs).getUTCFullYear(); y++) {
      let list = this.spells.get(y);
      if (!list) {
        list = spellsOfYear(this.ctxs[0].ctx.seed, this.device, y, this.noise);
        this.spells.set(y, list);
      }
      for (const sp of list) if (sp.toMs > fromMs && sp.fromMs < toMs) out.push(sp);
    }
    return out;
  }

  /** Earliest time this device can be generated for. */
  get earliestMs(): number {
    return (this.anchorDay + 1) * DAY_MS;
  }

  /** Readings with fromMs ≤ time < toMs, in time order. */
  *readings(fromMs: number, toMs: number): Generator<SimReading> {
    if (fromMs < this.earliestMs) {
      throw new UsageGatewayError('GW_ERR_USAGE', `the simulator generates history from ${new Date(this.earliestMs).toISOString()} on (${HISTORY_DAYS - 1} days before the fleet epoch), not from ${new Date(fromMs).toISOString()}`);
    }
    const { device } = this;
    const seed = this.ctxs[0].ctx.seed;
    // A day's readings may spill a few hours into the next day (late cycles, time zones).
    for (let day = Math.floor(fromMs / DAY_MS) - 1; day * DAY_MS < toMs; day++) {
      const raw = this.day(day);
      const faults = device.fault ? new Rng(seed, device.id, 'fault', day) : null;
      const missing = this.noise ? this.spellsAround(day * DAY_MS, (day + 2) * DAY_MS).filter((sp) => sp.what === 'missing') : [];
      for (const r of raw) {
        // Drawn for every reading of the day, kept or not, so that pages agree.
        const hit = faults !== null && r.channel === 'telemetry' && faults.chance(FAULT_RATE);
        if (r.timeMs < fromMs || r.timeMs >= toMs || !this.reports(r.timeMs)) continue;
        if (missing.some((sp) => r.timeMs >= sp.fromMs && r.timeMs < sp.toMs)) continue;
        yield* this.frame(r, hit);
      }
    }
  }

  /**
   * The readings the gateway would keep, as generated (time, channel, body), without framing
   * them into payloads: what a backtest in memory needs, the same values `readings()` frames.
   * Misbehaving firmware is not applied (a backtest's fleet has none).
   */
  *kept(fromMs: number, toMs: number): Generator<RawReading> {
    for (let day = Math.floor(fromMs / DAY_MS) - 1; day * DAY_MS < toMs; day++) {
      const raw = this.day(day);
      const missing = this.noise ? this.spellsAround(day * DAY_MS, (day + 2) * DAY_MS).filter((sp) => sp.what === 'missing') : [];
      for (const r of raw) {
        if (r.timeMs < fromMs || r.timeMs >= toMs || !this.reports(r.timeMs)) continue;
        if (missing.length > 0 && missing.some((sp) => r.timeMs >= sp.fromMs && r.timeMs < sp.toMs)) continue;
        yield r;
      }
    }
  }

  /** Does the device report at `ms`: bought and not replaced, not gone silent? */
  reports(ms: number): boolean {
    return activeAt(this.device, ms) && !personaOn(this.device, 'silent-device', ms);
  }

  /** The day's raw readings, before time filtering and faults. */
  private day(day: number): RawReading[] {
    const plan = this.planFor(day);
    const start = this.countersAt(day);
    const { ctx } = this.ctxAt(day);
    const raw = this.sim.day(ctx, day, plan, { ...start }, new Rng(ctx.seed, this.device.id, 'day', day), this.envAt(day));
    for (const r of raw) r.body.firmware = this.firmware;
    return raw;
  }

  private planFor(day: number): unknown {
    const index = Math.floor((day - this.anchorDay) / BLOCK_DAYS);
    if (this.block?.index !== index) {
      const first = this.anchorDay + index * BLOCK_DAYS;
      const rng = new Rng(this.ctxs[0].ctx.seed, this.device.id, 'plan', first);
      const plans = Array.from({ length: BLOCK_DAYS }, (_, i) => this.sim.plan(this.ctxAt(first + i).ctx, first + i, rng, this.envAt(first + i)));
      this.block = { index, plans };
    }
    return this.block.plans[day - this.anchorDay - index * BLOCK_DAYS];
  }

  /** Counters at the start of `day`: the sum of every planned day since the anchor. */
  private countersAt(day: number): Counters {
    if (!this.counters || this.counters.day > day) this.counters = { day: this.anchorDay, c: this.sim.initial(this.ctxs[0].ctx) };
    while (this.counters.day < day) {
      this.sim.advance(this.planFor(this.counters.day), this.counters.c);
      this.counters.day++;
    }
    return this.counters.c;
  }

  private *frame(r: RawReading, hit: boolean): Generator<SimReading> {
    const { device } = this;
    const { type, ...fields } = r.body;
    let ts = r.timeMs;
    let expect: Expect = 'ok';
    const extra: Record<string, unknown> = {};
    const body: Record<string, unknown> = { ...fields };
    if (hit) {
      switch (device.fault) {
        case 'out-of-range':
          Object.assign(body, outOfRange(device.kind));
          expect = 'GW_ERR_INVALID_READING';
          break;
        case 'unknown-field':
          extra.fw_debug = '0x1f';
          expect = 'GW_ERR_INVALID_READING';
          break;
        case 'clock-skew':
          ts = RTC_RESET_MS + (r.timeMs % DAY_MS);
          expect = 'GW_ERR_TS_TOO_OLD';
          break;
        default:
          break;
      }
    }
    const reading: Record<string, unknown> = { type, ts: device.kind === 'car' ? new Date(ts).toISOString() : ts };
    if (r.seq !== undefined) reading.seq = r.seq;
    Object.assign(reading, body, extra);
    const channel = r.channel;
    const topic = channel === 'telemetry' ? topics.telemetry(device.id) : topics.events(device.id);
    yield { deviceId: device.id, channel, topic, timeMs: r.timeMs, reading, expect };
    // Firmware that sends the same reading twice: the gateway must store it once.
    if (hit && device.fault === 'duplicates') yield { deviceId: device.id, channel, topic, timeMs: r.timeMs, reading, expect: 'duplicate' };
  }
}

function outOfRange(kind: Kind): Record<string, unknown> {
  if (kind === 'washer') return { spin_rpm: 2_400 };
  if (kind === 'fridge') return { compressor_duty: 1.4 };
  return { avg_speed_kmh: 420 };
}

/** Every device of a fleet, ready to generate. */
export function fleetSims(fleet: Fleet, catalogue: Catalogue): DeviceSim[] {
  return fleet.devices.map((d) => new DeviceSim(fleet, d, catalogue));
}

/** One fact of the ground truth about a device over a span: what holds, from when, until when (null: on). */
export interface TruthSpan {
  what: 'persona' | 'absent' | 'replaced' | 'replacement' | 'resold' | 'stuck' | 'missing' | 'season';
  from: string;
  to: string | null;
  persona?: string;
  /** stuck: the figure; season: what the weather does to the device; persona: `borderline: …` when the pattern is neither clearly there nor clearly not. */
  detail?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * What is true of a device between two times: its persona patterns, its household's absences,
 * replacement and resale, stuck and missing sensor spells, and the season where it moves the
 * device's figures (a cold battery's dip, a hot kitchen). A backtest tells a miss from a
 * correct silence, and a false alarm's reason, from these.
 */
export function truthOf(sim: DeviceSim, fromMs: number, toMs: number): TruthSpan[] {
  const d = sim.device;
  const out: TruthSpan[] = [];
  const within = (a: number | null, b: number | null) => (b === null || b > fromMs) && (a === null || a < toMs);
  for (const e of d.episodes ?? (d.persona === 'normal' ? [] : [{ persona: d.persona, fromMs: d.patternStartMs, toMs: null }])) {
    if (within(e.fromMs, e.toMs)) out.push({ what: 'persona', persona: e.persona, from: iso(e.fromMs ?? fromMs), to: e.toMs === null ? null : iso(e.toMs) });
  }
  // A car whose use collapsed into what a low-mileage driver covers is one, from then on: what it
  // drives over the two months after the collapse, days away set aside, tells.
  const collapse = episodesOf(d).find((e) => e.persona === 'usage-collapse');
  if (d.kind === 'car' && collapse?.fromMs != null && within(collapse.fromMs, collapse.toMs)) {
    const a = collapse.fromMs + 7 * DAY_MS;
    const b = a + 60 * DAY_MS;
    let km = 0;
    let home = 0;
    for (let day = Math.floor(a / DAY_MS); day < Math.floor(b / DAY_MS); day++) if (!sim.envAt(day).absent) home++;
    for (const r of sim.kept(a, b)) if (r.channel === 'telemetry' && !sim.envAt(Math.floor(r.timeMs / DAY_MS)).absent) km += Number(r.body.distance_km);
    // Between what a low-mileage driver covers and where ordinary driving begins, it is neither
    // for sure: a borderline span (a trigger there is not false, none is not a miss).
    const per30 = home > 0 ? (km / home) * 30 : Infinity;
    if (per30 < ORDINARY_KM_PER_MONTH) out.push({ what: 'persona', persona: 'car-low-mileage', from: iso(collapse.fromMs), to: collapse.toMs === null ? null : iso(collapse.toMs), detail: per30 <= LOW_MILEAGE_KM_PER_MONTH ? 'after its use collapsed' : `borderline: ${Math.round(per30)} km a month after its use collapsed` });
  }
  if (d.activeUntilMs != null) out.push({ what: 'replaced', from: iso(d.activeUntilMs), to: null, ...(d.replacedBy ? { detail: d.replacedBy } : {}) });
  if (d.activeFromMs != null) out.push({ what: 'replacement', from: iso(d.activeFromMs), to: null, ...(d.replaces ? { detail: d.replaces } : {}) });
  for (const p of d.previousOwners ?? []) out.push({ what: 'resold', from: iso(p.untilMs), to: null });
  for (const sp of sim.spellsAround(fromMs, toMs)) out.push({ what: sp.what, from: iso(sp.fromMs), to: iso(sp.toMs), ...(sp.figure ? { detail: sp.figure } : {}) });
  // Absences and the season, day by day, as spans.
  let absent: { from: number; to: number } | null = null;
  let season: { from: number; to: number; detail: string } | null = null;
  const firstDay = Math.floor(fromMs / DAY_MS);
  const lastDay = Math.ceil(toMs / DAY_MS);
  for (let day = firstDay; day < lastDay; day++) {
    const env = sim.envAt(day);
    if (Number.isNaN(env.ambientC)) break; // a clean fleet: no world
    if (env.absent) {
      if (absent && absent.to === day) absent.to = day + 1;
      else {
        if (absent) out.push({ what: 'absent', from: iso(absent.from * DAY_MS), to: iso(absent.to * DAY_MS) });
        absent = { from: day, to: day + 1 };
      }
    }
    const s = sim.seasonAt(day, env);
    if (s) {
      if (season && season.to === day && season.detail === s) season.to = day + 1;
      else {
        if (season) out.push({ what: 'season', detail: season.detail, from: iso(season.from * DAY_MS), to: iso(season.to * DAY_MS) });
        season = { from: day, to: day + 1, detail: s };
      }
    }
  }
  if (absent) out.push({ what: 'absent', from: iso(absent.from * DAY_MS), to: iso(absent.to * DAY_MS) });
  if (season) out.push({ what: 'season', detail: season.detail, from: iso(season.from * DAY_MS), to: iso(season.to * DAY_MS) });
  return out.sort((a, b) => a.from.localeCompare(b.from));
}
