import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { episodesOf, type Fleet, type SimDevice } from '../fleet.ts';
import { DeviceSim, truthOf, type TruthSpan } from '../generate.ts';
import { catalogue, DAY, EPOCH, fleetOf } from './fixtures.ts';
import { planFleet } from '../fleet.ts';
import type { Profile } from '../profile.ts';

/**
 * What the simulator claims of its personas, households, seasons and sensors holds in the
 * readings it generates, measured in the simulator's own figures (personas.ts and the
 * models): the share of washes loaded beyond the drum, cycles a week, the growth of vibration,
 * door openings, kilometres a month… Nothing here is a rule of analytics or one of its
 * thresholds: whether the rules find these patterns is the backtest's business.
 */

interface Day {
  readings: number;
  use: number;
  over: number;
  vib: number[];
  load: number[];
  temps: number[];
  duty: number[];
  energy: number;
  soh: number[];
  codes: string[];
}

interface Collected {
  device: SimDevice;
  sim: DeviceSim;
  days: Day[];
  truth: TruthSpan[];
  /** Times and values of each telemetry reading, for the sensor spells. */
  raw: Array<{ timeMs: number; reading: Record<string, unknown> }>;
}

const emptyDay = (): Day => ({ readings: 0, use: 0, over: 0, vib: [], load: [], temps: [], duty: [], energy: 0, soh: [], codes: [] });

function collect(fleet: Fleet, fromMs: number, toMs: number, keepRaw = false): Collected[] {
  const n = Math.round((toMs - fromMs) / DAY);
  return fleet.devices.map((device) => {
    const sim = new DeviceSim(fleet, device, catalogue);
    const days = Array.from({ length: n }, emptyDay);
    const capacity = Number(catalogue.get(device.model)!.capacity_kg);
    const raw: Collected['raw'] = [];
    for (const r of sim.readings(fromMs, toMs)) {
      const d = days[Math.floor((r.timeMs - fromMs) / DAY)];
      const x = r.reading;
      if (r.channel === 'events') {
        if (x.severity !== 'info') d.codes.push(String(x.code));
        continue;
      }
      if (keepRaw) raw.push({ timeMs: r.timeMs, reading: x });
      d.readings++;
      if (device.kind === 'washer') {
        d.use++;
        d.load.push(x.load_kg as number);
        d.vib.push(x.vibration_g as number);
        if ((x.load_kg as number) > capacity) d.over++;
      } else if (device.kind === 'fridge') {
        d.use += x.door_openings as number;
        d.temps.push(x.temp_c as number);
        d.duty.push(x.compressor_duty as number);
        d.energy += x.energy_kwh as number;
      } else {
        d.use += x.distance_km as number;
        if (typeof x.battery_soh_pct === 'number') d.soh.push(x.battery_soh_pct);
      }
    }
    return { device, sim, days, truth: truthOf(sim, fromMs, toMs), raw };
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : NaN);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Day indexes [from, to) of a span within the collected range. */
function spanDays(t: { from: string; to: string | null }, fromMs: number, n: number): [number, number] {
  const a = Math.max(0, Math.ceil((Date.parse(t.from) - fromMs) / DAY));
  const b = Math.min(n, t.to === null ? n : Math.floor((Date.parse(t.to) - fromMs) / DAY));
  return [a, b];
}

/** Per day: was the household away (the truth's `absent` spans)? */
function awayDays(c: Collected, fromMs: number): boolean[] {
  const away = c.days.map(() => false);
  for (const t of c.truth.filter((x) => x.what === 'absent')) {
    const [a, b] = spanDays(t, fromMs, c.days.length);
    for (let i = Math.max(0, a - 1); i < Math.min(away.length, b + 1); i++) away[i] = true; // and the travel days
  }
  return away;
}

const episodes = (c: Collected, persona: string) => c.truth.filter((t) => t.what === 'persona' && t.persona === persona);
const of = (all: Collected[], persona: string) => all.filter((c) => c.device.persona === persona);
const plain = (all: Collected[]) => all.filter((c) => c.device.persona === 'normal' && !c.device.traits?.length && !c.device.previousOwners);

const YEAR_FROM = EPOCH - 365 * DAY;

function realisticFleet(kind: 'washer' | 'fridge' | 'car', devices: number, seed: number, noise?: Fleet['noise']): Fleet {
  return planFleet({ seed, devices, mix: { washer: kind === 'washer' ? 1 : 0, fridge: kind === 'fridge' ? 1 : 0, car: kind === 'car' ? 1 : 0 }, epochMs: EPOCH, catalogue, faultShare: 0, profile: 'realistic', noise });
}

describe('realistic personas: washers', () => {
  const all = collect(realisticFleet('washer', 240, 101), YEAR_FROM, EPOCH);

  it('overloaders load beyond the drum on 40–80% of washes (as the load sensor reads them); plain households seldom, near-threshold ones fill it', () => {
    const shareOf = (c: Collected, days = c.days.map((_, i) => i)) => sum(days.map((i) => c.days[i].over)) / Math.max(1, sum(days.map((i) => c.days[i].use)));
    const over = of(all, 'washer-overloader').filter((c) => !c.device.replacedBy);
    assert.ok(over.length >= 8, `${over.length} overloaders`);
    for (const c of over) {
      const s = shareOf(c);
      assert.ok(s >= 0.25 && s <= 0.85, `${c.device.id}: ${s.toFixed(2)} of its washes read above capacity`);
    }
    for (const c of plain(all)) assert.ok(shareOf(c) < 0.05, `${c.device.id}: ${shareOf(c).toFixed(3)}`);
    const near = all.filter((c) => c.device.traits?.includes('near-threshold'));
    assert.ok(near.length >= 10, `${near.length} near-threshold washers`);
    for (const c of near) {
      const fill = median(c.days.flatMap((d) => d.load)) / Number(catalogue.get(c.device.model)!.capacity_kg);
      assert.ok(fill >= 0.78 && fill <= 1, `${c.device.id}: median load ${fill.toFixed(2)} of capacity`);
    }
    assert.ok(mean(near.map((c) => shareOf(c))) > 3 * mean(plain(all).map((c) => shareOf(c))), 'a full drum reads above capacity more often than a half-full one');
  });

  it('the load sensor noise is the fleet setting: no noise, fewer full drums read as overloaded', () => {
    const quiet = collect(realisticFleet('washer', 240, 101, { load: 0, vibration: 0.33, temp: 0.3, soh: 0.4, stuck: 0, missing: 0 }), YEAR_FROM, EPOCH - 300 * DAY);
    const noisy = collect(realisticFleet('washer', 240, 101, { load: 1, vibration: 0.33, temp: 0.3, soh: 0.4, stuck: 0, missing: 0 }), YEAR_FROM, EPOCH - 300 * DAY);
    const share = (cs: Collected[]) => sum(cs.flatMap((c) => c.days.map((d) => d.over))) / sum(cs.flatMap((c) => c.days.map((d) => d.use)));
    const near = (cs: Collected[]) => cs.filter((c) => c.device.traits?.includes('near-threshold'));
    assert.ok(share(near(noisy)) > 1.5 * share(near(quiet)), `near-threshold washes read above capacity: ${share(near(quiet)).toFixed(3)} without noise, ${share(near(noisy)).toFixed(3)} with 1 kg`);
  });

  it('heavy users wash 13–18 times a week at home; a plain household 1.5–9 (and the laundry that waited after a holiday)', () => {
    const perWeek = (c: Collected) => {
      const away = awayDays(c, YEAR_FROM);
      const home = c.days.filter((_, i) => !away[i]);
      return (sum(home.map((d) => d.use)) / home.length) * 7;
    };
    for (const c of of(all, 'heavy-user')) assert.ok(perWeek(c) >= 11.5 && perWeek(c) <= 20, `${c.device.id}: ${perWeek(c).toFixed(1)} a week`);
    for (const c of plain(all)) assert.ok(perWeek(c) >= 1 && perWeek(c) <= 11, `${c.device.id}: ${perWeek(c).toFixed(1)} a week`);
  });

  it('bearing wear: vibration grows 1–3% a day once it has begun', () => {
    let checked = 0;
    for (const c of all) {
      for (const e of episodes(c, 'bearing-wear')) {
        const [a, b] = spanDays(e, YEAR_FROM, c.days.length);
        if (a < 30 || b - a < 40) continue;
        const before = mean(c.days.slice(a - 30, a).flatMap((d) => d.vib));
        const after = mean(c.days.slice(a + 30, a + 40).flatMap((d) => d.vib));
        if (Number.isNaN(before) || Number.isNaN(after)) continue;
        checked++;
        // 1% a day for 30–40 days is 1.35–1.49×; the noise of a few washes takes a little off.
        assert.ok(after / before >= 1.2, `${c.device.id}: ${(after / before).toFixed(2)}× after 30–40 days`);
      }
    }
    assert.ok(checked >= 3, `only ${checked} episodes long enough to look at`);
  });

  it('a recurring code comes back while its episode lasts, and not otherwise', () => {
    for (const c of all) {
      const spans = episodes(c, 'recurring-error').map((e) => spanDays(e, YEAR_FROM, c.days.length));
      c.days.forEach((d, i) => {
        if (d.codes.includes('E21')) assert.ok(spans.some(([a, b]) => i >= a - 1 && i < b + 1), `${c.device.id}: E21 outside its episode`);
      });
      for (const [a, b] of spans) {
        const away = awayDays(c, YEAR_FROM);
        const home = Array.from({ length: b - a }, (_, k) => a + k).filter((i) => !away[i]);
        if (home.length < 14) continue;
        const n = sum(home.map((i) => c.days[i].codes.filter((x) => x === 'E21').length));
        // On about half the washes: every ten days at least, however little the household washes.
        assert.ok(n / home.length >= 1 / 10, `${c.device.id}: E21 ${n} times in ${home.length} days at home`);
      }
    }
  });

  it('usage collapse: use falls to 10–25% of its own baseline and a wash still comes at least every ten days', () => {
    let checked = 0;
    for (const c of of(all, 'usage-collapse')) {
      const [a] = spanDays(episodes(c, 'usage-collapse')[0], YEAR_FROM, c.days.length);
      if (a < 60 || c.days.length - a < 40) continue;
      checked++;
      const away = awayDays(c, YEAR_FROM);
      const rate = (from: number, to: number) => {
        const idx = Array.from({ length: to - from }, (_, k) => from + k).filter((i) => !away[i]);
        return sum(idx.map((i) => c.days[i].use)) / idx.length;
      };
      const ratio = rate(a + 7, c.days.length) / rate(a - 60, a);
      assert.ok(ratio >= 0.05 && ratio <= 0.35, `${c.device.id}: ${ratio.toFixed(2)} of its baseline`);
      // A wash in a connectivity outage happened but was never reported: those days are unknown.
      const lost = c.days.map(() => false);
      for (const t of c.truth.filter((x) => x.what === 'missing')) {
        for (let i = Math.floor((Date.parse(t.from) - YEAR_FROM) / DAY); i <= Math.floor((Date.parse(t.to!) - YEAR_FROM) / DAY); i++) if (i >= 0 && i < lost.length) lost[i] = true;
      }
      let gap = 0;
      let longest = 0;
      for (let i = a + 7; i < c.days.length; i++) {
        gap = c.days[i].use > 0 || away[i] || lost[i] ? 0 : gap + 1;
        longest = Math.max(longest, gap);
      }
      assert.ok(longest <= 11, `${c.device.id}: ${longest} days at home without a wash`);
    }
    assert.ok(checked >= 3, `only ${checked} collapses to look at`);
  });

  it('a silent device stops at its onset and sends nothing after', () => {
    for (const c of of(all, 'silent-device')) {
      const [a] = spanDays(episodes(c, 'silent-device')[0], YEAR_FROM, c.days.length);
      assert.equal(sum(c.days.slice(a).map((d) => d.readings)), 0, c.device.id);
      if (a > 30) assert.ok(sum(c.days.slice(0, a).map((d) => d.readings)) > 0, c.device.id);
    }
  });

  it('a replaced machine stops when its successor, in the same household, starts', () => {
    const replaced = all.filter((c) => c.device.replacedBy);
    assert.ok(replaced.length > 0, 'some overloaders upgraded');
    for (const c of replaced) {
      const next = all.find((x) => x.device.id === c.device.replacedBy)!;
      assert.equal(next.device.owner, c.device.owner);
      assert.equal(next.device.model, catalogue.get(c.device.model)!.successor);
      const until = Math.floor((c.device.activeUntilMs! - YEAR_FROM) / DAY);
      const from = Math.ceil((next.device.activeFromMs! - YEAR_FROM) / DAY);
      if (until > 0) assert.equal(sum(c.days.slice(until + 1).map((d) => d.readings)), 0, `${c.device.id} after its replacement`);
      if (from > 0) assert.equal(sum(next.days.slice(0, from - 1).map((d) => d.readings)), 0, `${next.device.id} before it was bought`);
      assert.ok(episodesOf(c.device).every((e) => e.toMs !== null && e.toMs <= c.device.activeUntilMs!), `${c.device.id}: its patterns end with it`);
    }
  });
});

describe('realistic households, seasons and sensors', () => {
  const fleet = planFleet({ seed: 404, devices: 160, mix: { washer: 0.45, fridge: 0.25, car: 0.3 }, epochMs: EPOCH, catalogue, faultShare: 0, profile: 'realistic' });
  const all = collect(fleet, YEAR_FROM, EPOCH, true);

  it('a household away leaves all its devices unused: no wash, no trip but the drive there and back, fridge doors shut while it still reports', () => {
    let absences = 0;
    for (const c of all) {
      for (const t of c.truth.filter((x) => x.what === 'absent')) {
        const [a, b] = spanDays(t, YEAR_FROM, c.days.length);
        if (b - a < 3) continue;
        absences++;
        for (let i = a + 1; i < b - 1; i++) {
          const d = c.days[i];
          if (c.device.kind === 'fridge') {
            assert.equal(d.use, 0, `${c.device.id}: doors opened on day ${i} while away`);
            if (!c.truth.some((m) => m.what === 'missing' && Date.parse(m.from) < YEAR_FROM + (i + 1) * DAY && Date.parse(m.to!) > YEAR_FROM + i * DAY)) assert.ok(d.readings > 100, `${c.device.id}: a fridge keeps reporting`);
          } else assert.equal(d.readings, 0, `${c.device.id}: used on day ${i} while away`);
        }
      }
    }
    assert.ok(absences > 50, `only ${absences} absences`);
    // An owner's devices are away together: the same spans.
    const byOwner = new Map<string, Collected[]>();
    for (const c of all) byOwner.set(c.device.owner, [...(byOwner.get(c.device.owner) ?? []), c]);
    let shared = 0;
    for (const list of byOwner.values()) {
      if (list.length < 2) continue;
      const spans = list.map((c) => c.truth.filter((t) => t.what === 'absent').map((t) => `${t.from}|${t.to}`).join(';'));
      assert.ok(spans.every((s) => s === spans[0]), `${list[0].device.owner}: its devices are away on different days`);
      shared++;
    }
    assert.ok(shared > 5, `only ${shared} households with several devices`);
  });

  it('absences run 3 to 28 days; most households go away during the year', () => {
    const spans = new Map<string, number>();
    // Those wholly inside the year looked at (the truth clips the others at its ends).
    for (const c of all) for (const t of c.truth.filter((x) => x.what === 'absent' && Date.parse(x.from) > YEAR_FROM && Date.parse(x.to!) < EPOCH)) spans.set(`${c.device.owner}|${t.from}`, (Date.parse(t.to!) - Date.parse(t.from)) / DAY);
    for (const [k, days] of spans) assert.ok(days >= 3 && days <= 28, `${k}: ${days} days`);
    const away = new Set([...spans.keys()].map((k) => k.split('|')[0]));
    const owners = new Set(all.map((c) => c.device.owner));
    assert.ok(away.size >= 0.7 * owners.size, `${away.size} of ${owners.size} households went away`);
  });

  it('seasons: a fridge uses more energy in July than in January; a healthy battery reads lower in the cold and recovers', () => {
    const month = (c: Collected, m: number) => c.days.filter((_, i) => new Date(YEAR_FROM + i * DAY).getUTCMonth() === m);
    const fridges = all.filter((c) => c.device.kind === 'fridge' && c.device.persona === 'normal');
    const energy = fridges.map((c) => mean(month(c, 6).map((d) => d.energy).filter((e) => e > 0)) / mean(month(c, 0).map((d) => d.energy).filter((e) => e > 0)));
    assert.ok(median(energy) > 1.05, `July over January energy, median ${median(energy).toFixed(3)}`);
    const cars = all.filter((c) => c.device.kind === 'car' && typeof catalogue.get(c.device.model)!.battery_kwh === 'number' && episodes(c, 'car-battery-decline').length === 0);
    const dip = cars.map((c) => median(month(c, 6).flatMap((d) => d.soh)) - median(month(c, 0).flatMap((d) => d.soh))).filter(Number.isFinite);
    assert.ok(dip.length >= 5 && median(dip) > 0.5, `July minus January battery health, median ${median(dip).toFixed(2)} over ${dip.length} cars`);
  });

  it('sensors: a stuck figure repeats one value; in an outage nothing arrives', () => {
    let stuck = 0;
    let missing = 0;
    const field: Record<string, string> = { load: 'load_kg', vibration: 'vibration_g', temp: 'temp_c', soh: 'battery_soh_pct' };
    for (const c of all) {
      for (const t of c.truth.filter((x) => x.what === 'stuck' || x.what === 'missing')) {
        const [a, b] = [Date.parse(t.from), Date.parse(t.to!)];
        const inside = c.raw.filter((r) => r.timeMs >= a && r.timeMs < b);
        if (t.what === 'missing') {
          assert.equal(inside.length, 0, `${c.device.id}: readings during an outage`);
          missing++;
        } else {
          const values = new Set(inside.map((r) => r.reading[field[t.detail!]]).filter((v) => v !== undefined));
          if (values.size > 0) {
            assert.equal(values.size, 1, `${c.device.id}: ${t.detail} not stuck from ${t.from}: ${[...values].slice(0, 5).join(', ')}`);
            stuck++;
          }
        }
      }
    }
    assert.ok(stuck >= 5 && missing >= 50, `${stuck} stuck spells with readings, ${missing} outages`);
  });
});

describe('realistic personas: fridges and cars', () => {
  const fridges = collect(realisticFleet('fridge', 60, 202), YEAR_FROM, EPOCH);
  const cars = collect(realisticFleet('car', 140, 303), YEAR_FROM, EPOCH);

  it('crowded fridges: 70–120 door openings a day at home and compressor duty well above their model', () => {
    const perDay = (c: Collected) => {
      const away = awayDays(c, YEAR_FROM);
      const home = c.days.filter((d, i) => !away[i] && d.readings > 100);
      return sum(home.map((d) => d.use)) / home.length;
    };
    const duty = (c: Collected) => mean(c.days.flatMap((d) => d.duty));
    for (const c of of(fridges, 'fridge-crowded').filter((x) => !x.device.replacedBy)) {
      assert.ok(perDay(c) >= 60 && perDay(c) <= 130, `${c.device.id}: ${perDay(c).toFixed(0)} openings a day`);
      const peers = plain(fridges).filter((x) => x.device.model === c.device.model);
      if (peers.length >= 3) assert.ok(duty(c) >= 1.2 * median(peers.map(duty)), `${c.device.id}: duty ${duty(c).toFixed(3)} against ${median(peers.map(duty)).toFixed(3)}`);
    }
    for (const c of plain(fridges)) assert.ok(perDay(c) >= 10 && perDay(c) <= 50, `${c.device.id}: ${perDay(c).toFixed(0)} openings a day`);
  });

  it('a failing fridge runs warm (above 9 °C) for hours on most days of its episode; others never do for long', () => {
    for (const c of fridges) {
      const spans = episodes(c, 'fridge-temp-excursion').map((e) => spanDays(e, YEAR_FROM, c.days.length));
      const warmDay = (d: Day) => d.temps.filter((x) => x > 9).length >= 12;
      for (const [a, b] of spans) {
        if (b - a < 7) continue;
        const days = c.days.slice(a, b);
        assert.ok(days.filter(warmDay).length >= 0.5 * days.length, `${c.device.id}: ${days.filter(warmDay).length} warm days of ${days.length}`);
      }
      if (spans.length === 0) assert.equal(c.days.filter(warmDay).length, 0, `${c.device.id}: warm for hours without a fault`);
    }
  });

  it('low-mileage cars cover 100–300 km a month at home; near-threshold ones 420–580, just above them', () => {
    const per30 = (c: Collected) => {
      const away = awayDays(c, YEAR_FROM);
      const home = c.days.filter((_, i) => !away[i]);
      return (sum(home.map((d) => d.use)) / home.length) * 30;
    };
    for (const c of of(cars, 'car-low-mileage')) assert.ok(per30(c) >= 80 && per30(c) <= 340, `${c.device.id}: ${per30(c).toFixed(0)} km`);
    const near = cars.filter((c) => c.device.traits?.includes('near-threshold') && c.device.persona === 'normal');
    assert.ok(near.length >= 5, `${near.length} near-threshold cars`);
    for (const c of near) assert.ok(per30(c) >= 380 && per30(c) <= 650, `${c.device.id}: ${per30(c).toFixed(0)} km`);
  });

  it('a failing battery loses 2–4 points a month from its onset', () => {
    let checked = 0;
    for (const c of cars) {
      for (const e of episodes(c, 'car-battery-decline')) {
        const [a] = spanDays(e, YEAR_FROM, c.days.length);
        if (a < 20 || c.days.length - a < 60) continue;
        const before = median(c.days.slice(a - 20, a).flatMap((d) => d.soh));
        const after = median(c.days.slice(a + 45, a + 60).flatMap((d) => d.soh));
        if (!Number.isFinite(before) || !Number.isFinite(after)) continue;
        checked++;
        // 2–4 points a month over about 1.7 months, give or take a cold spell's dip.
        assert.ok(before - after >= 2, `${c.device.id}: ${(before - after).toFixed(1)} points in 45–60 days`);
      }
    }
    assert.ok(checked >= 2, `only ${checked} declines to look at`);
  });

  it('a resold car keeps its battery and odometer, and gets the habits of its new household', () => {
    const resold = cars.filter((c) => c.device.previousOwners?.length);
    assert.ok(resold.length >= 1, 'some cars change hands');
    for (const c of resold) {
      const at = Math.floor((c.device.previousOwners![0].untilMs - YEAR_FROM) / DAY);
      if (at < 10 || at > c.days.length - 10) continue;
      const before = median(c.days.slice(at - 10, at).flatMap((d) => d.soh));
      const after = median(c.days.slice(at, at + 10).flatMap((d) => d.soh));
      if (Number.isFinite(before) && Number.isFinite(after)) assert.ok(Math.abs(before - after) < 2, `${c.device.id}: battery ${before} → ${after} at the resale`);
      assert.ok(c.truth.some((t) => t.what === 'resold'), `${c.device.id}: the truth says it changed hands`);
    }
  });
});

describe('clean personas', () => {
  const kindFleet = (kind: 'washer' | 'fridge' | 'car', n: number, seed: number) => fleetOf(n, seed, { washer: kind === 'washer' ? 1 : 0, fridge: kind === 'fridge' ? 1 : 0, car: kind === 'car' ? 1 : 0 }, 0, 'clean' as Profile);
  const FROM = EPOCH - 70 * DAY;
  const washers = collect(kindFleet('washer', 200, 101), FROM, EPOCH);
  const cars = collect(kindFleet('car', 120, 303), FROM, EPOCH);

  it('overloaders load beyond the drum on about 80% of washes, ordinary households on about 3%', () => {
    const share = (cs: Collected[]) => sum(cs.flatMap((c) => c.days.map((d) => d.over))) / sum(cs.flatMap((c) => c.days.map((d) => d.use)));
    assert.ok(share(of(washers, 'washer-overloader')) > 0.65, `${share(of(washers, 'washer-overloader'))}`);
    assert.ok(share(of(washers, 'normal')) < 0.06, `${share(of(washers, 'normal'))}`);
  });

  it('heavy users wash 13–18 times a week, others 2.5–6', () => {
    const perWeek = (c: Collected) => (sum(c.days.map((d) => d.use)) / c.days.length) * 7;
    for (const c of of(washers, 'heavy-user')) assert.ok(perWeek(c) >= 11 && perWeek(c) <= 20, `${c.device.id}: ${perWeek(c)}`);
    for (const c of of(washers, 'normal')) assert.ok(perWeek(c) <= 7.5, `${c.device.id}: ${perWeek(c)}`);
  });

  it('bearing wear grows vibration about 3% a day; silence and collapse begin at their start', () => {
    for (const c of of(washers, 'bearing-wear')) {
      const a = Math.ceil((c.device.patternStartMs! - FROM) / DAY);
      const before = mean(c.days.slice(Math.max(0, a - 20), a).flatMap((d) => d.vib));
      const after = mean(c.days.slice(-10).flatMap((d) => d.vib));
      assert.ok(after / before > 1.5, `${c.device.id}: ${(after / before).toFixed(2)}`);
    }
    for (const c of of(washers, 'silent-device')) {
      const a = Math.ceil((c.device.patternStartMs! - FROM) / DAY);
      assert.equal(sum(c.days.slice(a).map((d) => d.readings)), 0, c.device.id);
    }
    for (const c of of(washers, 'usage-collapse')) {
      const a = Math.ceil((c.device.patternStartMs! - FROM) / DAY);
      const ratio = mean(c.days.slice(a + 1).map((d) => d.use)) / mean(c.days.slice(0, a).map((d) => d.use));
      assert.ok(ratio <= 0.3, `${c.device.id}: ${ratio.toFixed(2)}`);
    }
  });

  it('low-mileage cars drive 120–240 km a month, the others 900–2,200', () => {
    const per30 = (c: Collected) => (sum(c.days.map((d) => d.use)) / c.days.length) * 30;
    for (const c of of(cars, 'car-low-mileage')) assert.ok(per30(c) <= 320, `${c.device.id}: ${per30(c)}`);
    for (const c of of(cars, 'normal')) assert.ok(per30(c) >= 600, `${c.device.id}: ${per30(c)}`);
  });
});
