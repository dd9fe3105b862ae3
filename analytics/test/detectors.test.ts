import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadCatalogue } from '../../protocol/models.ts';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { DETECTORS, type CohortStats, type DeviceEvent, type DeviceInfo, type DeviceSeries, type HouseholdMember } from '../detectors/index.ts';
import { parseRules } from '../rules.ts';
import { mulberry32 } from '../../test/harness/rng.ts';

// Detectors on synthetic daily series, without InfluxDB: each fires on its pattern and stays
// quiet on an ordinary device; and each robustness property (absences, seasons, noise, near
// thresholds, replacements) is shown twice: the detector is right with it, and wrong with it
// switched off through its parameters.
const catalogue = loadCatalogue(DEFAULT_MODELS_PATH);
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

type Daily = Record<string, Array<number>>;
const seriesOf = (days: number, daily: Daily, events: DeviceEvent[] = []): DeviceSeries => ({ startMs: START, days, daily: new Map(Object.entries(daily).map(([k, v]) => [k, Float64Array.from(v)])), events });

interface RunOptions {
  events?: DeviceEvent[];
  cohort?: Record<string, CohortStats>;
  params?: Record<string, unknown>;
  household?: Array<{ kind: string; model: string; daily: Daily; id?: string }>;
}

function run(id: string, kind: string, model: string, days: number, daily: Daily, o: RunOptions = {}) {
  const det = DETECTORS.get(id)!;
  const params = det.params.parse(o.params ?? {});
  const device: DeviceInfo = { id: 'd1', kind, model, owner: 'o1' };
  const m = catalogue.get(model);
  const household: HouseholdMember[] = (o.household ?? []).map((h, i) => ({ device: { id: h.id ?? `h${i}`, kind: h.kind, model: h.model, owner: 'o1' }, series: seriesOf(days, h.daily) }));
  return det.detect({
    device, model: m, successor: m?.successor ? catalogue.get(m.successor) : undefined,
    series: seriesOf(days, daily, o.events), from: 0, to: days, params, cohort: new Map(Object.entries(o.cohort ?? {})), household,
  });
}
const fill = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
const cohort = (model: string, p50: number, spread = 0.15): CohortStats => ({ model, devices: 50, percentiles: { p10: p50 * (1 - 2 * spread), p25: p50 * (1 - spread), p50, p75: p50 * (1 + spread), p90: p50 * (1 + 2 * spread) } });
/** A fridge of the household: readings all day, the doors opened unless the household is away. */
const fridge = (days: number, away: (i: number) => boolean) => ({ kind: 'fridge', model: 'FR-350', daily: { 'fridge.door_openings': fill(days, (i) => (away(i) ? 0 : 30)), 'fridge.readings': fill(days, () => 144) } });
/** A washer used every other day, three times a week. */
const washes = (i: number) => (i % 7 === 0 || i % 7 === 2 || i % 7 === 4 ? 1 : NaN);

describe('detectors', () => {
  test('washer-overloaded: a share of cycles clearly over capacity, with the successor as the offer and its confidence', () => {
    const over = 'washer.overloaded.1.0.5';
    const hit = run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, (i) => (i % 2 ? 1 : NaN)), [over]: fill(28, (i) => (i % 2 ? (i % 6 === 1 ? 0 : 1) : NaN)) });
    assert.ok(hit);
    assert.equal(hit.figures.cycles, 14);
    assert.equal(hit.offer?.target, 'WM-9');
    assert.ok(hit.confidence && hit.confidence.bound >= 0.33 && hit.confidence.bound < hit.figures.overload_share, 'the bound it cleared, below the share itself');
    assert.match(hit.confidence.summary, /90% sure at least \d+% of its washes are overloaded/);
    assert.equal(run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, () => 1), [over]: fill(28, (i) => (i % 10 === 0 ? 1 : NaN)) }), null);
    // Too few cycles to judge.
    assert.equal(run('washer-overloaded', 'washer', 'WM-7', 28, { 'washer.cycles': fill(28, (i) => (i < 5 ? 1 : NaN)), [over]: fill(28, (i) => (i < 5 ? 1 : NaN)) }), null);
  });

  test('near-threshold: a drum filled to the brim, read by a ±0.5 kg sensor, is not an overloaded one; without the margin and the bound it would be', () => {
    // 20 washes: 7 read above the 7 kg capacity (the sensor's noise on a full drum), 1 above 7.5 kg.
    const cycles = fill(28, (i) => (i < 20 ? 1 : NaN));
    const daily = { 'washer.cycles': cycles, 'washer.overloaded.1.0.5': fill(28, (i) => (i === 3 ? 1 : NaN)), 'washer.overloaded.1.0': fill(28, (i) => (i % 3 === 0 && i < 20 ? 1 : NaN)) };
    assert.equal(run('washer-overloaded', 'washer', 'WM-7', 28, daily), null);
    assert.ok(run('washer-overloaded', 'washer', 'WM-7', 28, daily, { params: { sensorMarginKg: 0, level: 0.5 } }), 'with no margin and no bound, 7 of 20 is over a third');
    // And a household that truly overloads half its washes is found with the margin and the bound.
    assert.ok(run('washer-overloaded', 'washer', 'WM-7', 28, { ...daily, 'washer.overloaded.1.0.5': fill(28, (i) => (i % 2 === 0 && i < 20 ? 1 : NaN)) }));
  });

  test('washer-heavy-use: cycles a week at home against a floor (lower bound) and the cohort median', () => {
    const c = { 'washer.cycles': cohort('WM-8', 17) };
    const hit = run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, () => 2) }, { cohort: c });
    assert.ok(hit);
    assert.ok(hit.confidence && hit.confidence.bound >= 10 && hit.confidence.bound < 14);
    assert.equal(run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, (i) => (i % 2 ? 1 : NaN)) }, { cohort: c }), null);
    // A fleet that all washes a lot: not heavy relative to its cohort.
    assert.equal(run('washer-heavy-use', 'washer', 'WM-8', 28, { 'washer.cycles': fill(28, () => 2) }, { cohort: { 'washer.cycles': cohort('WM-8', 50) } }), null);
    // 10.5 a week over 28 days is above the floor, but not surely: 42 washes could come from 8.6 a week.
    const borderline = { 'washer.cycles': fill(28, (i) => (i % 2 ? 1 : 2)) };
    assert.equal(run('washer-heavy-use', 'washer', 'WM-8', 28, borderline, { cohort: c }), null);
    assert.ok(run('washer-heavy-use', 'washer', 'WM-8', 28, borderline, { cohort: c, params: { level: 0.5 } }));
  });

  test('noise: a healthy washer\'s vibration scattering 25–40% a cycle is not bearing wear; a point estimate would call it so', () => {
    // Flat at 0.4 g with lognormal scatter of 35% a cycle, one wash a day on most days.
    const r = mulberry32(7);
    const normal = () => {
      const u = 1 - r();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
    };
    const noisy = fill(112, (i) => (i % 3 === 2 ? NaN : 0.4 * Math.exp(normal() * 0.35 - 0.06) * (i > 56 ? 1.12 : 1)));
    assert.equal(run('washer-bearing-wear', 'washer', 'WM-8', 112, { 'washer.vibration': noisy }), null, 'a 12% step inside 35% scatter is not wear');
    assert.ok(run('washer-bearing-wear', 'washer', 'WM-8', 112, { 'washer.vibration': noisy }, { params: { level: 0.5, minRise: 0.1 } }), 'taken at face value, the same series "rises"');
    // Wear: 2% a day compounding from day 30, on top of the same scatter, is found.
    const worn = noisy.map((v, i) => (Number.isNaN(v) ? v : (v / (i > 56 ? 1.12 : 1)) * 1.02 ** Math.max(0, i - 30)));
    const hit = run('washer-bearing-wear', 'washer', 'WM-8', 112, { 'washer.vibration': worn });
    assert.ok(hit, 'wear through the same scatter');
    assert.ok(hit.figures.rise >= 0.3 && hit.confidence!.bound > 0);
    assert.match(hit.confidence!.summary, /99\.999% sure vibration is rising/);
  });

  test('noise: a stuck vibration reading (one value repeated) does not make a trend significant', () => {
    const r = mulberry32(11);
    const base = fill(112, (i) => (i % 2 ? NaN : 0.4 * (1 + 0.25 * (r() - 0.5)) * (1 + 0.0025 * i)));
    // The sensor sticks for 40 days early on at a low value: without the guard, a flat low stretch then the ordinary level.
    const stuck = base.map((v, i) => (i >= 4 && i < 44 && !Number.isNaN(v) ? 0.3 : v));
    assert.equal(run('washer-bearing-wear', 'washer', 'WM-8', 112, { 'washer.vibration': stuck }), null);
  });

  test('recurring-error: the same warning on several days; info events and one-offs do not count', () => {
    const ev = (day: number, code: string, severity = 'warning') => ({ timeMs: START + day * DAY + 3_600_000, code, severity });
    const hit = run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E21'), ev(9, 'E21'), ev(20, 'E21')] });
    assert.ok(hit);
    assert.deepEqual([hit.figures.occurrences, hit.figures.days_with_error], [3, 3]);
    assert.match(hit.summary, /E21/);
    assert.equal(run('recurring-error', 'washer', 'WM-8', 14, {}, { events: [ev(-6, 'E21'), ev(3, 'E21'), ev(9, 'E21')] }), null);
    assert.equal(run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E21'), ev(9, 'E35'), ev(20, 'E40')] }), null);
    assert.equal(run('recurring-error', 'washer', 'WM-8', 28, {}, { events: [ev(3, 'E10', 'info'), ev(9, 'E10', 'info'), ev(20, 'E10', 'info')] }), null);
  });

  describe('usage-linked repairs: a washer whose faults follow its overloaded washes', () => {
    // Washes on 12 days (3 a week), 8 of them overloaded (days 0, 2, 7, 9, 14, 16, 21, 23): 8 of
    // the 12 washing days are an overloaded day or the day after, the share reports would have by chance.
    const overDays = new Set([0, 2, 7, 9, 14, 16, 21, 23]);
    const daily = {
      'washer.cycles': fill(28, washes),
      'washer.overloaded.1.0.5': fill(28, (i) => (Number.isNaN(washes(i)) ? NaN : overDays.has(i) ? 1 : NaN)),
    };
    const ev = (day: number, code = 'E21') => ({ timeMs: START + day * DAY + 20 * 3_600_000, code, severity: 'warning' });
    const upsell = (events: DeviceEvent[]) => run('washer-overloaded', 'washer', 'WM-7', 28, daily, { events })!;
    const service = (events: DeviceEvent[]) => run('recurring-error', 'washer', 'WM-7', 28, daily, { events })!;

    test('3 of 4 reports on an overloaded day or the next: the upsell and the service trigger both say so', () => {
      // Days 2 and 9 were overloaded; 17 is the day after 16; 25 is neither.
      const events = [ev(2), ev(9), ev(17), ev(25)];
      const u = upsell(events);
      assert.match(u.summary, /3 of the 4 error reports in the window came within a day of an overloaded cycle \(on its day or the next; 67% of the washing days were such days\)/);
      assert.deepEqual([u.figures.error_reports, u.figures.error_reports_after_overload, u.figures.wash_days_after_overload_share], [4, 3, 0.667]);
      const s = service(events);
      assert.match(s.summary, /Error E21 was reported 4 times/);
      assert.match(s.summary, /3 of the 4 reports of E21 came within a day of an overloaded cycle .* Overloading is a likely cause/);
      assert.equal(s.figures.occurrences_after_overload, 3);
    });

    test('reports on washing days away from the overloads: neither says so', () => {
      // Days 4, 11, 18 and 25 were washed without overload, and so were the days before.
      const events = [ev(4), ev(11), ev(18), ev(25)];
      const u = upsell(events);
      assert.doesNotMatch(u.summary, /within a day of an overloaded cycle/);
      assert.equal(u.figures.error_reports_after_overload, 0);
      const s = service(events);
      assert.ok(s, 'the error still recurs');
      assert.doesNotMatch(s.summary, /overloaded|Overloading/);
    });

    test('no more of them than chance would put there, or a single one: neither says so', () => {
      // Every washing day overloaded: every report "follows" an overload, as it would by chance.
      const always = { 'washer.cycles': daily['washer.cycles'], 'washer.overloaded.1.0.5': daily['washer.cycles'] };
      const events = [ev(2), ev(9), ev(16)];
      assert.doesNotMatch(run('washer-overloaded', 'washer', 'WM-7', 28, always, { events })!.summary, /within a day/);
      assert.doesNotMatch(run('recurring-error', 'washer', 'WM-7', 28, always, { events })!.summary, /within a day/);
      // One report after an overload of three others elsewhere.
      assert.doesNotMatch(upsell([ev(2), ev(4), ev(11)]).summary, /within a day/);
      // Info notes are not faults.
      assert.doesNotMatch(upsell([2, 9, 16].map((d) => ({ ...ev(d, 'E10'), severity: 'info' }))).summary, /within a day/);
      // A fridge's recurring error has no load to set it against.
      const fridgeErr = run('recurring-error', 'fridge', 'FR-350', 28, {}, { events: [ev(2, 'F07'), ev(9, 'F07'), ev(17, 'F07')] })!;
      assert.equal(fridgeErr.figures.occurrences_after_overload, undefined);
    });
  });

  test('fridge-crowded: far above the model cohort on openings and duty, beyond its spread', () => {
    const c = { 'fridge.door_openings': cohort('FR-250', 28 * 35), 'fridge.duty': cohort('FR-250', 0.33, 0.04) };
    const hit = run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 100), 'fridge.duty': fill(28, () => 0.46) }, { cohort: c });
    assert.ok(hit);
    assert.ok(hit.confidence && hit.confidence.bound >= 2);
    assert.equal(run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 38), 'fridge.duty': fill(28, () => 0.35) }, { cohort: c }), null);
    assert.equal(run('fridge-crowded', 'fridge', 'FR-250', 28, { 'fridge.door_openings': fill(28, () => 100), 'fridge.duty': fill(28, () => 0.46) }), null, 'no cohort, no verdict');
  });

  test('near-threshold: a big family on a model whose fridges vary widely is not a crowded fridge; the ratios alone would say so', () => {
    // 60 openings a day (1.7× the median) and duty 1.2× the median, on a model whose quartiles lie ±20% apart.
    const c = { 'fridge.door_openings': cohort('FR-350', 28 * 35, 0.3), 'fridge.duty': cohort('FR-350', 0.33, 0.12) };
    const family = { 'fridge.door_openings': fill(28, () => 60), 'fridge.duty': fill(28, () => 0.4) };
    assert.equal(run('fridge-crowded', 'fridge', 'FR-350', 28, family, { cohort: c }), null);
    assert.ok(run('fridge-crowded', 'fridge', 'FR-350', 28, family, { cohort: c, params: { minOpeningsZ: 0, minDutyZ: 0 } }));
  });

  test('fridge-temp-excursion: share of warm readings on several days', () => {
    const hit = run('fridge-temp-excursion', 'fridge', 'FR-350', 14, { 'fridge.readings': fill(14, () => 144), 'fridge.warm.8': fill(14, (i) => (i > 6 ? 20 : NaN)) });
    assert.ok(hit);
    assert.ok(hit.confidence!.bound >= 0.03);
    assert.equal(run('fridge-temp-excursion', 'fridge', 'FR-350', 14, { 'fridge.readings': fill(14, () => 144), 'fridge.warm.8': fill(14, (i) => (i === 3 ? 30 : NaN)) }), null);
  });

  test('car-low-mileage: low but steady driving; not a car that stopped', () => {
    const hit = run('car-low-mileage', 'car', 'CAR-CITY', 112, { 'car.km': fill(112, (i) => (i % 4 === 0 ? 25 : NaN)) });
    assert.ok(hit);
    assert.ok(hit.confidence!.bound < 400);
    assert.equal(run('car-low-mileage', 'car', 'CAR-CITY', 112, { 'car.km': fill(112, () => 40) }), null);
    assert.equal(run('car-low-mileage', 'car', 'CAR-CITY', 112, { 'car.km': fill(112, (i) => (i < 76 ? 40 : NaN)) }), null, 'silent for 36 days');
  });

  test('near-threshold and holidays: a car driven just above the pay-as-you-drive threshold, or parked for a holiday, gets no offer; without bound and absences it would', () => {
    // About 430 km per 30 days at home, unevenly from week to week; the household away 3 weeks (its fridge shut).
    const weekly = [60, 150, 40, 130, 70, 140, 50, 160, 55, 150, 45, 135, 65, 145, 50, 155];
    const away = (i: number) => i >= 40 && i < 61;
    const km = fill(112, (i) => (away(i) ? NaN : i % 7 < 3 ? weekly[Math.floor(i / 7)] / 3 : NaN));
    const household = [fridge(112, away)];
    assert.equal(run('car-low-mileage', 'car', 'CAR-CITY', 112, { 'car.km': km }, { household }), null);
    assert.ok(run('car-low-mileage', 'car', 'CAR-CITY', 112, { 'car.km': km }, { household, params: { level: 0.5, absenceAware: false } }), 'the holiday counted as driving nothing, and the week-to-week scatter ignored');
  });

  test('car-health: a recurring DTC, or a battery falling faster than its cohort; one-off codes are noise', () => {
    const ev = (day: number, code: string, severity = 'warning') => ({ timeMs: START + day * DAY + 3_600_000, code, severity });
    const soh = { 'car.soh': fill(84, () => 95) };
    const hit = run('car-health', 'car', 'CAR-CITY-EV', 84, soh, { events: [ev(76, 'P0301'), ev(80, 'P0301')] });
    assert.ok(hit);
    assert.equal(hit.figures.dtc_events, 2);
    assert.equal(hit.series?.values.length, 84);
    assert.equal(hit.series?.values[80], 1);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, soh, { events: [ev(76, 'P0420'), ev(80, 'P0171')] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, soh, { events: [ev(2, 'P0301'), ev(80, 'P0301')] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, soh, { events: [ev(80, 'P0301'), { ...ev(80, 'P0301'), timeMs: START + 80 * DAY + 7_200_000 }] }), null);
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, soh, { events: [ev(76, 'P0456', 'info'), ev(80, 'P0456', 'info')] }), null);
  });

  test('season: a healthy EV whose battery reading dips with the cold, as its whole cohort does, is not failing; without the cohort it would be', () => {
    // Autumn: every car of the model reads about 1.5 points per 30 days lower as it gets colder.
    const flat = (i: number) => 95 - (1.5 / 30) * i + 0.2 * Math.sin(i * 1.7);
    const cohortSlope: CohortStats = { model: 'CAR-CITY-EV', devices: 40, percentiles: { p10: -2 / 30, p25: -1.7 / 30, p50: -1.5 / 30, p75: -1.3 / 30, p90: -1 / 30 } };
    const c = { 'slope(car.soh)': cohortSlope };
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': fill(84, flat) }, { cohort: c }), null);
    assert.ok(run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': fill(84, flat) }, { cohort: c, params: { cohortAware: false } }), 'against itself alone, the cold looks like a failing battery');
    // A failing battery loses 3 points a month more than the same cohort, and is found.
    const failing = run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': fill(84, (i) => flat(i) - (3 / 30) * i) }, { cohort: c });
    assert.ok(failing);
    assert.equal(failing.figures.battery_declining, 1);
    assert.ok(failing.figures.soh_change_beyond_cohort_per_30_days <= -2.5);
    assert.equal(failing.offer?.label, 'Battery check');
    // A car that went quiet half-way through the weeks its cohort is measured over, its last readings
    // in the cold: it cannot be compared over the same days, so no battery verdict.
    const partial = fill(84, (i) => (i < 40 ? 95 - (3 / 30) * i : NaN));
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': partial }, { cohort: c }), null);
    assert.ok(run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': partial }, { cohort: c, params: { minSohDaysEachEnd: 0 } }), 'compared over other days, it would look failing');
    // No cohort to compare with: no battery verdict at all (the season cannot be told apart).
    assert.equal(run('car-health', 'car', 'CAR-CITY-EV', 84, { 'car.soh': fill(84, (i) => flat(i) - (3 / 30) * i) }), null);
  });

  test('holiday: a household away for three weeks gets no retention call or check-in; without absence awareness it would get both', () => {
    // Washer three times a week for 70 days, then the household leaves for 21 days: the washer is
    // silent, the fridge reports on with its doors shut.
    const days = 91;
    const away = (i: number) => i >= 70;
    const washer = { 'washer.cycles': fill(days, (i) => (away(i) ? NaN : washes(i))) };
    const household = [fridge(days, away)];
    assert.equal(run('device-silent', 'washer', 'WM-8', 63, { 'washer.cycles': washer['washer.cycles'].slice(28) }, { household: [{ ...household[0], daily: { 'fridge.door_openings': household[0].daily['fridge.door_openings'].slice(28), 'fridge.readings': household[0].daily['fridge.readings'].slice(28) } }] }), null);
    assert.ok(run('device-silent', 'washer', 'WM-8', 63, { 'washer.cycles': washer['washer.cycles'].slice(28) }, { params: { absenceAware: false } }));
    // The fridge itself: its doors shut for the last 21 days; no usage collapse.
    const fr = { 'fridge.door_openings': fill(days, (i) => (away(i) ? 0 : 30 + (i % 5))), 'fridge.readings': fill(days, () => 144) };
    assert.equal(run('usage-collapse', 'fridge', 'FR-350', days, fr), null);
    assert.ok(run('usage-collapse', 'fridge', 'FR-350', days, fr, { params: { absenceAware: false, level: 0.5 } }), 'the holiday taken for a collapse');
  });

  test('holiday, a household of one device: its silence must outlast any absence (35 days), and then it is a check-in', () => {
    const quiet = (q: number) => ({ 'washer.cycles': fill(63, (i) => (i >= 63 - q ? NaN : washes(i) === 1 ? 2 : NaN)) });
    assert.equal(run('device-silent', 'washer', 'WM-8', 63, quiet(30)), null);
    const hit = run('device-silent', 'washer', 'WM-8', 63, quiet(36));
    assert.ok(hit);
    assert.match(hit.summary, /outlast an absence/);
  });

  test('silence while the household is at home is found from 14 days', () => {
    const days = 63;
    const household = [fridge(days, () => false)];
    const silent = (q: number) => ({ 'washer.cycles': fill(days, (i) => (i >= days - q ? NaN : 1)) });
    assert.equal(run('device-silent', 'washer', 'WM-8', days, silent(13), { household }), null);
    const hit = run('device-silent', 'washer', 'WM-8', days, silent(14), { household });
    assert.ok(hit);
    assert.equal(hit.figures.silent_days_at_home, 14);
    assert.match(hit.confidence!.summary, /while the household was at home/);
  });

  test('usage-collapse and device-silent hand over at one quiet length: every length is one rule\'s, and that rule fires once it is sure', () => {
    // Heavy use for 70 days, a trickle (a wash every third day) for 49, then quiet, the household
    // at home all along; each rule reads its own window up to the same day.
    const byQuiet = new Map<number, string>();
    for (let q = 0; q <= 30; q++) {
      const cycles = fill(119 + q, (i) => (i < 70 ? 3 : i < 119 ? (i % 3 === 0 ? 1 : NaN) : NaN));
      const quiet = cycles.length - 1 - cycles.map((v) => v > 0).lastIndexOf(true);
      const last = (n: number) => cycles.slice(cycles.length - n);
      const uc = run('usage-collapse', 'washer', 'WM-8', 91, { 'washer.cycles': last(91) }, { household: [fridge(91, () => false)] });
      const ds = run('device-silent', 'washer', 'WM-8', 63, { 'washer.cycles': last(63) }, { household: [fridge(63, () => false)] });
      // Below 14 quiet days the device is usage-collapse's, from 14 on device-silent's: never both.
      if (quiet < 14) assert.equal(ds, null, `quiet ${quiet} days: not device-silent's`);
      else assert.equal(uc, null, `quiet ${quiet} days: no longer usage-collapse's`);
      byQuiet.set(quiet, uc ? 'collapse' : ds ? 'silent' : 'none');
    }
    const seq = [...byQuiet].map(([q, r]) => `${q}:${r}`).join(' ');
    // The collapse is found at every quiet length below the hand-over (10–13 days included)…
    for (const [q, r] of byQuiet) if (q < 14) assert.equal(r, 'collapse', seq);
    // …and the silence once it is longer than this device's own rhythm makes likely (a wash every
    // third day: about three weeks), and from then on.
    const first = [...byQuiet].find(([, r]) => r === 'silent')?.[0];
    assert.ok(first !== undefined && first >= 14 && first <= 25, seq);
    for (const [q, r] of byQuiet) if (q >= first) assert.equal(r, 'silent', seq);
  });

  test('the catalogue refuses retention rules that hand over at different quiet lengths', () => {
    const rule = (id: string, detector: string, silentDays: Record<string, number>) => ({ id, version: 1, description: 'x', category: 'retention', purpose: 'marketing', kinds: ['washer'], detector, params: { silentDays }, cooldownDays: 1, offer: { type: 'retention-call' } });
    assert.throws(() => parseRules({ rules: [rule('a', 'usage-collapse', { washer: 10 }), rule('b', 'device-silent', { washer: 14 })] }), /silentDays\.washer must be the same \(10 and 14\)/);
    assert.equal(parseRules({ rules: [rule('a', 'usage-collapse', { washer: 14 }), rule('b', 'device-silent', { washer: 14 })] }).length, 2);
  });

  test('replacement: a washer replaced by the household\'s new one is not silent; without looking at the household it would be', () => {
    const days = 63;
    const old = { 'washer.cycles': fill(days, (i) => (i >= 40 ? NaN : washes(i) === 1 ? 2 : NaN)) };
    const household = [fridge(days, () => false), { kind: 'washer', model: 'WM-10', id: 'd1-r', daily: { 'washer.cycles': fill(days, (i) => (i >= 42 ? washes(i) : NaN)) } }];
    assert.equal(run('device-silent', 'washer', 'WM-8', days, old, { household }), null);
    assert.ok(run('device-silent', 'washer', 'WM-8', days, old, { household, params: { absenceAware: false } }));
  });

  test('usage-collapse finds a trickle at home; every firing detector says how sure it was', () => {
    const days = 91;
    const household = [fridge(days, () => false)];
    const cycles = fill(days, (i) => (i < 56 ? 1 : i % 6 === 0 ? 1 : NaN));
    const hit = run('usage-collapse', 'washer', 'WM-8', days, { 'washer.cycles': cycles }, { household });
    assert.ok(hit);
    assert.ok(hit.figures.ratio < 0.25 && hit.confidence!.bound <= 0.5);
    assert.match(hit.confidence!.summary, /90% sure use is at most \d+% of its baseline/);
  });
});
