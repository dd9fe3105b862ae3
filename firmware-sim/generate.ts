import type { Catalogue } from '../protocol/models.ts';
import { topics, type ReadingChannel } from '../protocol/topics.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import type { Fleet, SimDevice } from './fleet.ts';
import { carSim } from './models/car.ts';
import type { Counters, DeviceCtx, KindSim, RawReading } from './models/common.ts';
import { fridgeSim } from './models/fridge.ts';
import { washerSim } from './models/washer.ts';
import { DAY_MS, FAULT_RATE, type Kind } from './personas.ts';
import { Rng } from './rng.ts';

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

/**
 * One device's readings as a pure function of (fleet seed and epoch, device, time range).
 * Caches only what makes sequential pages cheap (the last plan block and counters).
 */
export class DeviceSim {
  readonly device: SimDevice;
  private readonly ctx: DeviceCtx<unknown>;
  private readonly sim: KindSim<unknown, unknown>;
  private readonly anchorDay: number;
  private block: { index: number; plans: unknown[] } | null = null;
  private counters: { day: number; c: Counters } | null = null;

  constructor(fleet: Fleet, device: SimDevice, catalogue: Catalogue) {
    const model = catalogue.get(device.model);
    if (!model || model.kind !== device.kind) throw new UsageGatewayError('GW_ERR_SIM_FLEET', `device ${device.id}: model ${device.model} is not a ${device.kind} in the catalogue`);
    this.device = device;
    this.sim = SIMS[device.kind];
    const traits = this.sim.traits(new Rng(fleet.seed, device.id, 'traits'), device, model);
    this.ctx = { seed: fleet.seed, epochMs: fleet.epochMs, device, model, traits };
    this.anchorDay = Math.floor(fleet.epochMs / DAY_MS) - HISTORY_DAYS;
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
    const silentFrom = device.persona === 'silent-device' ? device.patternStartMs ?? Infinity : Infinity;
    // A day's readings may spill a few hours into the next day (late cycles, time zones).
    for (let day = Math.floor(fromMs / DAY_MS) - 1; day * DAY_MS < toMs; day++) {
      const raw = this.day(day);
      const faults = device.fault ? new Rng(this.ctx.seed, device.id, 'fault', day) : null;
      for (const r of raw) {
        // Drawn for every reading of the day, kept or not, so that pages agree.
        const hit = faults !== null && r.channel === 'telemetry' && faults.chance(FAULT_RATE);
        if (r.timeMs < fromMs || r.timeMs >= toMs || r.timeMs >= silentFrom) continue;
        yield* this.frame(r, hit);
      }
    }
  }

  /** The day's raw readings, before time filtering and faults. */
  private day(day: number): RawReading[] {
    const plan = this.planFor(day);
    const start = this.countersAt(day);
    return this.sim.day(this.ctx, day, plan, { ...start }, new Rng(this.ctx.seed, this.device.id, 'day', day));
  }

  private planFor(day: number): unknown {
    const index = Math.floor((day - this.anchorDay) / BLOCK_DAYS);
    if (this.block?.index !== index) {
      const first = this.anchorDay + index * BLOCK_DAYS;
      const rng = new Rng(this.ctx.seed, this.device.id, 'plan', first);
      const plans = Array.from({ length: BLOCK_DAYS }, (_, i) => this.sim.plan(this.ctx, first + i, rng));
      this.block = { index, plans };
    }
    return this.block.plans[day - this.anchorDay - index * BLOCK_DAYS];
  }

  /** Counters at the start of `day`: the sum of every planned day since the anchor. */
  private countersAt(day: number): Counters {
    if (!this.counters || this.counters.day > day) this.counters = { day: this.anchorDay, c: this.sim.initial(this.ctx) };
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
