import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCatalogue } from '../../protocol/models.ts';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { DETECTORS, type CohortStats, type DeviceEvent, type DeviceInfo } from '../detectors/index.ts';

// Detectors on synthetic daily series, without InfluxDB: each fires on its pattern and stays
// quiet on an ordinary device.
const catalogue = loadCatalogue(DEFAULT_MODELS_PATH);
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

function run(id: string, kind: string, model: string, days: number, daily: Record<string, Array<number>>, o: { events?: DeviceEvent[]; cohort?: Record<string, CohortStats>; params?: Record<string, unknown> } = {}) {
  const det = DETECTORS.get(id)!;
  const params = det.params.parse(o.params ?? {});
  const device: DeviceInfo = { id: 'd1', kind, model, owner: 'o1' };
  const m = catalogue.get(model);
  return det.detect({
    device, model: m, successor: m?.successor ? catalogue.get(m.successor) : undefined,
    series: { startMs: START, days, daily: new Map(Object.entries(daily).map(([k, v]) => [k, Float64Array.from(v)])), events: o.events ?? [] },
    from: 0, to: days, params, cohort: new Map(Object.entries(o.cohort ?? {})), household: [],
  });
}
const fill = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const round3 = (v: number) => Math.round(v * 1000) / 1000;
const cohort = (model: string, p50: number): CohortStats => ({ model, devices: 50, percentiles: { p10: p50 * 0.7, p25: p50 * 0.85, p50, p75: p50 * 1.15, p90: p50 * 1.3 } });

describe('detectors', () => {
  test('washer-overloaded: share of cycles over capacity, with the successor as the offer', () => {
    const hit = run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, (i) => (i % 2 ? 1 : NaN)), 'washer.overloaded.1': fill(28, (i) => (i % 2 ? (i % 6 === 1 ? 0 : 1) : NaN)) });
    assert.ok(hit);
    assert.equal(hit.figures.cycles, 14);
    assert.equal(hit.offer?.target, 'WM-9');
    assert.equal(run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, () => 1), 'washer.overloaded.1': fill(28, (i) => (i % 10 === 0 ? 1 : NaN)) }), null);
    // Too few cycles to judge.
    assert.equal(run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, (i) => (i < 5 ? 1 : NaN)), 'washer.overloaded.1': fill(28, (i) => (i < 5 ? 1 : NaN)) }), null);
  });

  test('washer-heavy-use: cycles per week against a floor and the cohort median', () => {
    const c = { 'washer.cycles': cohort('WM-8', 17) };
    assert.ok(run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, () => 2) }, { cohort: c }));
    assert.equal(run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, (i) => (i % 2 ? 1 : NaN)) }, { cohort: c }), null);
    // A fleet that all washes a lot: not heavy relative to its cohort.
    assert.equal(run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, () => 2) }, { cohort: { 'washer.cycles': cohort('WM-8', 50) } }), null);
  });

  test('washer-bearing-wear: vibration rising against its own baseline', () => {
    assert.ok(run('washer-bearing-wear', 'washer', 'WM-8', 42, { 'washer.vibration': fill(42, (i) => 0.5 * (1 + Math.max(0, i - 10) * 0.03)) }));
    assert.equal(run('washer-bearing-wear', 'washer', 'WM-8', 42, { 'washer.vibration': fill(42, (i) => 0.5 * (1 + 0.1 * Math.sin(i))) }), null);
  });

  test('recurring-error: the same warning on several days; info events and one-offs do not count', () => {
    const ev = (day: number, code: string, severity = 'warning') => ({ timeMs: START + day * DAY + 3_600_000, code, severity });
    const hit = run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E21'), ev(9, 'E21'), ev(20, 'E21')] });
    assert.ok(hit);
    assert.deepEqual([hit.figures.occurrences, hit.figures.days_with_error], [3, 3]);
    assert.match(hit.summary, /E21/);
    // Only what falls inside the window counts: one of the three is older.
    assert.equal(run('recurring-error', 'washer', 'WM-8', 14, {}, { events: [ev(-6, 'E21'), ev(3, 'E21'), ev(9, 'E21')] }), null);
    assert.equal(run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E21'), ev(9, 'E35'), ev(20, 'E40')] }), null);
    assert.equal(run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E10', 'info'), ev(9, 'E10', 'info'), ev(20, 'E10', 'info')] }), null);
  });

  test('fridge-crowded: far above the model cohort on openings and duty', () => {
    const c = { 'fridge.door_openings': cohort('FR-250', 28 * 35), 'fridge.duty': cohort('FR-250', 0.33) };
    assert.ok(run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 100), 'fridge.duty': fill(28, () => 0.46) }, { cohort: c }));
    assert.equal(run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 38), 'fridge.duty': fill(28, () => 0.35) }, { cohort: c }), null);
    assert.equal(run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 100), 'fridge.duty': fill(28, () => 0.46) }), null, 'no cohort, no verdict');
  });

  test('fridge-temp-excursion: share of warm readings on several days', () => {
    assert.ok(run('fridge-temp-excursion', 'fridge', 'FR-350', 14, { 'fridge.readings': fill(14, () => 144), 'fridge.warm.8': fill(14, (i) => (i > 6 ? 20 : NaN)) }));
    assert.equal(run('fridge-temp-excursion', 'fridge', 'FR-350', 14, { 'fridge.readings': fill(14, () => 144), 'fridge.warm.8': fill(14, (i) => (i === 3 ? 30 : NaN)) }), null);
  });

  test('car-low-mileage: low but steady driving; not a car that stopped', () => {
    assert.ok(run('car-low-mileage', 'car', 'CAR-CITY', 56, { 'car.km': fill(56, (i) => (i % 4 === 0 ? 25 : NaN)) }));
    assert.equal(run('car-low-mileage', 'car', 'CAR-CITY', 56, { 'car.km': fill(56, () => 40) }), null);
    assert.equal(run('car-low-mileage', 'car', 'CAR-CITY', 56, { 'car.km': fill(56, (i) => (i < 20 ? 40 : NaN)) }), null, 'silent for 36 days');
  });

  test('car-health: a recurring DTC or a falling battery; one-off codes are noise', () => {
    const ev = (day: number, code: string, severity = 'warning') => ({ timeMs: START + day * DAY + 3_600_000, code, severity });
    const soh = { 'car.soh': fill(28, () => 95) };
    const hit = run('car-health', 'car', 'CAR-CITY-EV', 28, soh, { events: [ev(20, 'P0301'), ev(24, 'P0301')] });
    assert.ok(hit);
    assert.equal(hit.figures.dtc_events, 2);
    assert.equal(hit.series?.values.length, 28);
    assert.equal(hit.series?.values[24], 1);
    // Different codes, the same code weeks apart, the same code twice on one day, info codes.
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 28, soh, { events: [ev(20, 'P0420'), ev(24, 'P0171')] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 28, soh, { events: [ev(2, 'P0301'), ev(24, 'P0301')] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 28, soh, { events: [ev(24, 'P0301'), { ...ev(24, 'P0301'), timeMs: START + 24 * DAY + 7_200_000 }] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 28, soh, { events: [ev(20, 'P0456', 'info'), ev(24, 'P0456', 'info')] }), null);
    assert.ok(run('car-health', 'car', 'CAR-CITY-EV', 28, { 'car.soh': fill(28, (i) => 95 - i * 0.1) }));
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 28, { 'car.soh': fill(28, (i) => 95 - i * 0.005 + (i % 2) * 0.1) }), null);
  });

  test('usage-collapse and device-silent split a fading device from a silent one', () => {
    const collapsed = fill(70, (i) => (i < 49 ? 1 : i % 7 === 0 ? 1 : NaN));
    const silent = fill(70, (i) => (i < 50 ? 1 : NaN));
    const normal = fill(70, (i) => (i % 2 ? 1 : NaN));
    const w = (v: number[]) => ({ 'washer.cycles': v });
    const hit = run('usage-collapse', 'washer', 'WM-8', 70, w(collapsed));
    assert.ok(hit);
    assert.equal(hit.figures.baseline_per_day, 1);
    assert.equal(hit.figures.recent_per_day, round3(3 / 21));
    // Sparse use, then quiet for 11 days: going silent, not a lasting trickle.
    const fading = fill(70, (i) => (i < 49 ? 1 : i < 59 && i % 3 === 1 ? 1 : NaN));
    assert.equal(run('usage-collapse', 'washer', 'WM-8', 70, w(fading)), null);
    assert.equal(run('usage-collapse', 'washer', 'WM-8', 70, w(silent)), null);
    assert.equal(run('usage-collapse', 'washer', 'WM-8', 70, w(normal)), null);
    assert.ok(run('device-silent', 'washer', 'WM-8', 56, w(silent.slice(14))));
    assert.equal(run('device-silent', 'washer', 'WM-8', 56, w(collapsed.slice(14))), null);
    assert.equal(run('device-silent', 'washer', 'WM-8', 56, w(normal.slice(14))), null);
  });
});
