import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimDevice } from '../fleet.ts';
import { fleetSims } from '../generate.ts';
import { catalogue, DAY, EPOCH, fleetOf } from './fixtures.ts';

/**
 * Persona statistics computed from generated data, the way simple rules would look at it at
 * the fleet epoch. Each planted persona must be found with precision and recall ≥ 0.9, and
 * the figures each persona claims must hold.
 */
const DAYS = 70;
const FROM = EPOCH - DAYS * DAY;

interface Daily {
  device: SimDevice;
  /** Per day (index 0 = 70 days before the epoch). */
  count: number[];
  use: number[];
  extra: Map<string, number[]>;
  warnings: Array<{ day: number; code: string }>;
  lastMs: number;
  firstMs: number;
  soh: Array<[number, number]>;
}

function collect(kind: 'washer' | 'fridge' | 'car', devices: number, seed: number): Daily[] {
  const fleet = fleetOf(devices, seed, { washer: kind === 'washer' ? 1 : 0, fridge: kind === 'fridge' ? 1 : 0, car: kind === 'car' ? 1 : 0 }, 0, 'clean');
  return fleetSims(fleet, catalogue).map((sim) => {
    const d: Daily = { device: sim.device, count: Array(DAYS).fill(0), use: Array(DAYS).fill(0), extra: new Map(), warnings: [], lastMs: 0, firstMs: Infinity, soh: [] };
    const add = (name: string, day: number, v: number) => {
      if (!d.extra.has(name)) d.extra.set(name, Array(DAYS).fill(0));
      d.extra.get(name)![day] += v;
    };
    const capacity = Number(catalogue.get(sim.device.model)!.capacity_kg);
    for (const r of sim.readings(FROM, EPOCH)) {
      const day = Math.floor((r.timeMs - FROM) / DAY);
      d.lastMs = Math.max(d.lastMs, r.timeMs);
      d.firstMs = Math.min(d.firstMs, r.timeMs);
      const x = r.reading;
      if (r.channel === 'events') {
        if (x.severity !== 'info') d.warnings.push({ day, code: String(x.code) });
        continue;
      }
      d.count[day]++;
      if (kind === 'washer') {
        d.use[day]++;
        add('over', day, (x.load_kg as number) > capacity ? 1 : 0);
        add('vib', day, x.vibration_g as number);
      } else if (kind === 'fridge') {
        d.use[day] += x.door_openings as number;
        add('duty', day, x.compressor_duty as number);
        add('warm', day, (x.temp_c as number) > 8 ? 1 : 0);
      } else {
        d.use[day] += x.distance_km as number;
        if (typeof x.battery_soh_pct === 'number') d.soh.push([r.timeMs / DAY, x.battery_soh_pct]);
      }
    }
    return d;
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const last = (xs: number[], n: number) => xs.slice(xs.length - n);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Precision and recall of a rule against the devices planted with `personas`. */
function score(all: Daily[], personas: string[], rule: (d: Daily) => boolean) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const wrong: string[] = [];
  for (const d of all) {
    const truth = personas.includes(d.device.persona);
    const fired = rule(d);
    if (fired && truth) tp++;
    else if (fired) {
      fp++;
      wrong.push(`${d.device.id} (${d.device.persona}) fired`);
    } else if (truth) {
      fn++;
      wrong.push(`${d.device.id} missed`);
    }
  }
  const precision = tp / (tp + fp || 1);
  const recall = tp / (tp + fn || 1);
  return { tp, fp, fn, precision, recall, wrong: wrong.slice(0, 5).join('; ') };
}

function assertScore(name: string, s: ReturnType<typeof score>, min = 0.9) {
  assert.ok(s.tp >= 3, `${name}: only ${s.tp} planted devices found`);
  assert.ok(s.precision >= min && s.recall >= min, `${name}: precision ${s.precision.toFixed(2)}, recall ${s.recall.toFixed(2)} (${s.wrong})`);
}

function recurringError(d: Daily): boolean {
  const byCode = new Map<string, Set<number> & { n?: number }>();
  const counts = new Map<string, number>();
  for (const w of d.warnings.filter((w) => w.day >= DAYS - 28)) {
    counts.set(w.code, (counts.get(w.code) ?? 0) + 1);
    if (!byCode.has(w.code)) byCode.set(w.code, new Set());
    byCode.get(w.code)!.add(w.day);
  }
  return [...counts].some(([code, n]) => n >= 3 && byCode.get(code)!.size >= 2);
}

function collapsed(d: Daily): boolean {
  const recent = last(d.use, 21);
  const base = d.use.slice(0, DAYS - 21);
  if (sum(last(d.count, 21)) === 0) return false; // silence is another rule
  return sum(recent) / 21 <= 0.35 * (sum(base) / base.length);
}

function silent(d: Daily, days: number): boolean {
  return sum(last(d.count, days)) === 0 && sum(d.count) > 0;
}

describe('personas: washers', () => {
  const fleet = collect('washer', 400, 101);
  const capacityShare = (ds: Daily[]) => sum(ds.map((d) => sum(last(d.extra.get('over')!, 28)))) / sum(ds.map((d) => sum(last(d.count, 28))));

  it('overloaders exceed capacity on most cycles, normal households rarely', () => {
    const over = fleet.filter((d) => d.device.persona === 'washer-overloader');
    const normal = fleet.filter((d) => d.device.persona === 'normal');
    assert.ok(capacityShare(over) > 0.6, `overloaders: ${capacityShare(over)}`);
    assert.ok(capacityShare(normal) < 0.1, `normal: ${capacityShare(normal)}`);
    assertScore('washer-overloader', score(fleet, ['washer-overloader'], (d) => {
      const n = sum(last(d.count, 28));
      return n >= 8 && sum(last(d.extra.get('over')!, 28)) / n >= 0.5;
    }));
  });

  it('heavy users wash 10 or more times a week, others far less', () => {
    assertScore('heavy-user', score(fleet, ['heavy-user'], (d) => sum(last(d.count, 28)) / 4 >= 10));
  });

  it('bearing wear shows as vibration rising over weeks', () => {
    const meanVib = (d: Daily, from: number, to: number) => sum(d.extra.get('vib')!.slice(from, to)) / Math.max(1, sum(d.count.slice(from, to)));
    const worn = fleet.filter((d) => d.device.persona === 'bearing-wear');
    for (const d of worn) {
      // Fortnight by fortnight the mean rises.
      assert.ok(meanVib(d, DAYS - 14, DAYS) > meanVib(d, DAYS - 28, DAYS - 14), d.device.id);
    }
    assertScore('bearing-wear', score(fleet, ['bearing-wear'], (d) => meanVib(d, DAYS - 7, DAYS) / meanVib(d, DAYS - 42, DAYS - 28) >= 1.3));
  });

  it('a recurring error code recurs; normal machines do not repeat one', () => {
    assertScore('recurring-error', score(fleet, ['recurring-error'], recurringError));
  });

  it('usage collapse drops use to a fraction of its own baseline after its start', () => {
    for (const d of fleet.filter((x) => x.device.persona === 'usage-collapse')) {
      const startDay = Math.floor((d.device.patternStartMs! - FROM) / DAY);
      const before = sum(d.count.slice(0, startDay)) / startDay;
      const after = sum(d.count.slice(startDay + 1)) / (DAYS - startDay - 1);
      assert.ok(after <= 0.3 * before, `${d.device.id}: ${after.toFixed(2)} vs ${before.toFixed(2)} a day`);
    }
    assertScore('usage-collapse', score(fleet, ['usage-collapse'], collapsed));
  });

  it('silent devices stop at their start and send nothing after', () => {
    for (const d of fleet.filter((x) => x.device.persona === 'silent-device')) assert.ok(d.lastMs < d.device.patternStartMs! && d.firstMs < d.device.patternStartMs! - 10 * DAY, d.device.id);
    assertScore('silent-device', score(fleet, ['silent-device'], (d) => silent(d, 14)));
  });
});

describe('personas: fridges', () => {
  const fleet = collect('fridge', 160, 202);

  it('crowded fridges are far above their model cohort in door openings and compressor duty', () => {
    const stats = (d: Daily) => ({ openings: sum(last(d.use, 28)) / 28, duty: sum(last(d.extra.get('duty')!, 28)) / Math.max(1, sum(last(d.count, 28))) });
    const cohort = new Map<string, { openings: number; duty: number }>();
    for (const model of new Set(fleet.map((d) => d.device.model))) {
      const members = fleet.filter((d) => d.device.model === model && sum(last(d.count, 28)) > 0).map(stats);
      cohort.set(model, { openings: median(members.map((m) => m.openings)), duty: median(members.map((m) => m.duty)) });
    }
    const crowded = (d: Daily) => {
      const s = stats(d);
      const c = cohort.get(d.device.model)!;
      return s.openings >= 1.6 * c.openings && s.duty >= 1.15 * c.duty;
    };
    assertScore('fridge-crowded', score(fleet, ['fridge-crowded'], crowded));
  });

  it('temperature excursions climb above 8 °C on several days; normal fridges never do', () => {
    const warm = (d: Daily) => {
      const w = last(d.extra.get('warm')!, 14);
      return sum(w) / Math.max(1, sum(last(d.count, 14))) >= 0.03 && w.filter((x) => x > 0).length >= 2;
    };
    assertScore('fridge-temp-excursion', score(fleet, ['fridge-temp-excursion'], warm));
    for (const d of fleet.filter((x) => x.device.persona === 'normal')) assert.equal(sum(d.extra.get('warm')!), 0, d.device.id);
  });

  it('recurring errors, usage collapse and silence are found', () => {
    assertScore('recurring-error', score(fleet, ['recurring-error'], recurringError));
    assertScore('usage-collapse', score(fleet, ['usage-collapse'], collapsed));
    assertScore('silent-device', score(fleet, ['silent-device'], (d) => silent(d, 3)));
  });
});

describe('personas: cars', () => {
  const fleet = collect('car', 300, 303);
  const kmPer30 = (d: Daily) => (sum(last(d.use, 56)) / 56) * 30;

  it('low-mileage cars drive about 300 km a month or less, others far more', () => {
    const low = fleet.filter((d) => d.device.persona === 'car-low-mileage');
    const normal = fleet.filter((d) => d.device.persona === 'normal');
    assert.ok(Math.max(...low.map(kmPer30)) <= 320, `low-mileage max ${Math.max(...low.map(kmPer30))}`);
    assert.ok(Math.min(...normal.map(kmPer30)) >= 600, `normal min ${Math.min(...normal.map(kmPer30))}`);
    assertScore('car-low-mileage', score(fleet, ['car-low-mileage'], (d) => kmPer30(d) < 400 && last(d.count, 56).filter((n) => n > 0).length >= 4));
  });

  it('DTCs recur and battery health declines for the planted cars only', () => {
    const slopePer30 = (pts: Array<[number, number]>) => {
      if (pts.length < 5) return 0;
      const mx = sum(pts.map((p) => p[0])) / pts.length;
      const my = sum(pts.map((p) => p[1])) / pts.length;
      const num = sum(pts.map(([x, y]) => (x - mx) * (y - my)));
      const den = sum(pts.map(([x]) => (x - mx) ** 2));
      return (num / den) * 30;
    };
    const health = (d: Daily) =>
      d.warnings.filter((w) => w.day >= DAYS - 28).length >= 2 || slopePer30(d.soh.filter(([t]) => t >= EPOCH / DAY - 28)) <= -1;
    assertScore('car-health', score(fleet, ['car-dtc', 'car-battery-decline'], health));
    for (const d of fleet.filter((x) => x.device.persona === 'car-battery-decline')) {
      assert.ok(slopePer30(d.soh.filter(([t]) => t >= EPOCH / DAY - 28)) <= -2, d.device.id);
    }
  });

  it('usage collapse and silence are found', () => {
    assertScore('usage-collapse', score(fleet, ['usage-collapse'], collapsed));
    assertScore('silent-device', score(fleet, ['silent-device'], (d) => silent(d, 14)));
  });
});
