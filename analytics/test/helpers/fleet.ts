import { readingsFor } from '../../../protocol/kinds/index.ts';
import type { Reading } from '../../../protocol/readings.ts';
import { fnv1a } from '../../../core/hash.ts';
import { readingsToLines } from '../../../core/influx/index.ts';
import type { InfluxStore } from '../../../core/influx/index.ts';
import type { ManifestDevice } from '../../backtest/manifest.ts';
import { mulberry32 as rng } from '../../../test/harness/rng.ts';

/**
 * A small synthetic fleet for the analytics tests: devices with planted personas and their
 * history, written to InfluxDB as line protocol through the gateway's encoder. (The
 * simulator in firmware-sim/ does this at full scale; this one is the tests' own.)
 */

const DAY = 86_400_000;

const PERSONAS: Record<string, string[]> = {
  washer: ['normal', 'normal', 'normal', 'washer-overloader', 'heavy-user', 'recurring-error', 'bearing-wear', 'usage-collapse', 'silent-device'],
  fridge: ['normal', 'normal', 'normal', 'fridge-crowded', 'fridge-temp-excursion', 'recurring-error', 'usage-collapse', 'silent-device'],
  car: ['normal', 'normal', 'normal', 'car-low-mileage', 'car-dtc', 'car-battery-decline', 'usage-collapse', 'silent-device'],
};
const MODELS: Record<string, Array<[string, number]>> = {
  washer: [['WM-6', 6], ['WM-8', 8], ['WM-9', 9]],
  fridge: [['FR-250', 250], ['FR-350', 350]],
  car: [['CAR-CITY-EV', 45], ['CAR-TOURER', 12]],
};

export interface FleetOptions {
  devices: number;
  days: number;
  endMs: number;
  seed: number;
  prefix?: string;
  /** Minutes between fridge state readings. */
  fridgeEveryMin?: number;
}

export function makeFleet(o: FleetOptions): ManifestDevice[] {
  const r = rng(o.seed);
  const kinds = ['washer', 'fridge', 'car'];
  const out: ManifestDevice[] = [];
  for (let i = 0; i < o.devices; i++) {
    const kind = kinds[i % 3];
    const personas = PERSONAS[kind];
    const persona = personas[Math.floor(r() * personas.length)];
    const models = MODELS[kind];
    const [model] = models[Math.floor(r() * models.length)];
    const startMs = o.endMs - o.days * DAY;
    const onset = persona === 'normal' ? undefined : new Date(startMs + Math.floor((0.45 + r() * 0.2) * o.days) * DAY).toISOString();
    out.push({
      id: `${o.prefix ?? 'd'}-${kind}-${i}`, kind, model, owner: `owner-${i}`, persona, ...(onset ? { patternStart: onset } : {}), consent: ['marketing', 'service'],
      truth: onset ? [{ what: 'persona', persona, from: onset, to: null }] : [], traits: [], previousOwners: [],
    });
  }
  return out;
}

function reading(kind: string, channel: 'telemetry' | 'events', type: string, timeMs: number, values: Record<string, unknown>, seq?: number): Reading {
  return { def: readingsFor(kind, channel)!.get(type)!, timeMs, seq, values };
}

/** The history of one device: readings per day, with its persona from its onset. */
export function* history(d: ManifestDevice, o: FleetOptions): Generator<Reading[]> {
  const r = rng(o.seed ^ fnv1a(d.id));
  const startMs = o.endMs - o.days * DAY;
  const onset = d.patternStart ? Date.parse(d.patternStart) : Infinity;
  const cap = MODELS[d.kind].find(([m]) => m === d.model)![1];
  const baseRate = 0.35 + r() * 0.25; // washes per day
  const vib0 = 0.4 + r() * 0.2;
  let seq = 0;
  let odo = 10_000 + r() * 50_000;
  let soh = 92 + r() * 6;
  for (let day = 0; day < o.days; day++) {
    const dayMs = startMs + day * DAY;
    const after = dayMs >= onset;
    const sinceOnset = after ? (dayMs - onset) / DAY : 0;
    const out: Reading[] = [];
    if (d.persona === 'silent-device' && after) {
      yield out;
      continue;
    }
    const collapse = d.persona === 'usage-collapse' && after ? 0.15 : 1;
    if (d.kind === 'washer') {
      let rate = baseRate * collapse;
      if (d.persona === 'heavy-user') rate = 2.2;
      const n = Math.floor(rate) + (r() < rate % 1 ? 1 : 0);
      for (let k = 0; k < n; k++) {
        const over = d.persona === 'washer-overloader' && after ? r() < 0.8 : r() < 0.05;
        const load = over ? cap * (1.05 + r() * 0.25) : cap * (0.4 + r() * 0.5);
        const vib = vib0 * (1 + (d.persona === 'bearing-wear' ? sinceOnset * 0.03 : 0)) * (0.9 + r() * 0.2);
        out.push(reading('washer', 'telemetry', 'cycle', dayMs + 8 * 3_600_000 + k * 7_200_000 + Math.floor(r() * 3_000_000), {
          program: 'cotton', load_kg: Math.round(load * 100) / 100, duration_s: 5_400, water_l: 50, energy_kwh: 0.9, temp_c: 40, spin_rpm: 1_200, vibration_g: Math.round(vib * 1000) / 1000,
        }, seq++));
      }
    } else if (d.kind === 'fridge') {
      const every = (o.fridgeEveryMin ?? 30) * 60_000;
      const crowded = d.persona === 'fridge-crowded' && after;
      for (let t = 0; t < DAY; t += every) {
        const warm = d.persona === 'fridge-temp-excursion' && after && r() < 0.15;
        const perSlot = (crowded ? 2.4 : 1) * collapse * (every / 3_600_000) * (0.8 + r() * 0.4);
        out.push(reading('fridge', 'telemetry', 'state', dayMs + t + Math.floor(r() * 60_000), {
          temp_c: warm ? 9 + r() * 4 : 3.5 + r() * 1.5, freezer_temp_c: -18 + r(), door_openings: Math.round(perSlot), door_open_s: 10,
          compressor_duty: Math.min(1, (crowded ? 0.55 : 0.38) * (0.9 + r() * 0.2)), energy_kwh: 0.02,
        }, seq++));
      }
    } else {
      const low = d.persona === 'car-low-mileage';
      const trips = low ? (r() < 0.45 ? 1 : 0) : Math.round((1 + r() * 2) * collapse + (collapse < 1 ? (r() < 0.3 ? 1 : 0) : 0));
      for (let k = 0; k < trips; k++) {
        const km = low ? 4 + r() * 14 : 8 + r() * 30;
        odo += km;
        if (d.persona === 'car-battery-decline' && after) soh -= 0.12;
        else soh -= 0.002;
        out.push(reading('car', 'telemetry', 'trip', dayMs + 7 * 3_600_000 + k * 5_000_000, {
          distance_km: Math.round(km * 10) / 10, duration_s: Math.round(km * 90), avg_speed_kmh: 40, max_speed_kmh: 90, harsh_brakes: 0, harsh_accels: 0, night_km: 0,
          odometer_km: Math.round(odo * 10) / 10, energy_kwh: km * 0.16, battery_soh_pct: Math.round(soh * 100) / 100,
        }, seq++));
      }
    }
    // Errors: the planted ones, and a rare one-off on any device.
    if ((d.persona === 'recurring-error' && after && r() < 0.3) || r() < 0.01) {
      out.push(reading(d.kind, 'events', 'error', dayMs + 12 * 3_600_000, { code: d.persona === 'recurring-error' ? 'E21' : `E${10 + Math.floor(r() * 80)}`, severity: 'warning' }, seq++));
    }
    if (d.persona === 'car-dtc' && after && r() < 0.25) {
      out.push(reading('car', 'events', 'error', dayMs + 13 * 3_600_000, { code: 'P0301', severity: 'warning' }, seq++));
    }
    yield out;
  }
}

/** Writes the fleet's history in large line-protocol batches; the number of points. */
export async function writeFleet(store: InfluxStore, fleet: ManifestDevice[], o: FleetOptions, batchLines = 50_000): Promise<number> {
  let lines: string[] = [];
  let total = 0;
  const flush = async () => {
    if (lines.length === 0) return;
    const res = await store.write(lines.join('\n'));
    if (!res.ok) throw new Error(`write failed: ${res.error}`);
    lines = [];
  };
  for (const d of fleet) {
    for (const day of history(d, o)) {
      if (day.length) lines.push(readingsToLines(day, { deviceId: d.id, kind: d.kind, model: d.model }));
      total += day.length;
      if (lines.length >= batchLines / 20) {
        // lines holds one entry per device-day; a rough bound on the batch size
        await flush();
      }
    }
  }
  await flush();
  return total;
}
