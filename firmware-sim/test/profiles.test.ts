import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { episodesOf, personaOn, planFleet, type Fleet } from '../fleet.ts';
import { DeviceSim } from '../generate.ts';
import { manifestOf } from '../manifest.ts';
import { catalogue, DAY, EPOCH, fleetOf } from './fixtures.ts';

/**
 * What the simulator plants per model (firmware-sim/profiles.ts) holds in the readings it
 * generates and in its manifest: the firmware version on every reading, the faulty firmware of
 * one model, overloaded washes raising the warning rate, owners who outgrow their washer, an
 * overloader's recurring error following its overloaded washes, and each model's usage profile.
 */

const WASHERS = { washer: 1, fridge: 0, car: 0 };

interface WasherDay {
  cycles: number;
  /** Cycles whose reported load is above the drum. */
  over: number;
  loadShare: number[];
  /** Warning codes of the day (not `info`). */
  codes: string[];
  programs: Record<string, number>;
}

function washerDays(fleet: Fleet, id: string, fromMs: number, toMs: number): WasherDay[] {
  const device = fleet.devices.find((d) => d.id === id)!;
  const capacity = Number(catalogue.get(device.model)!.capacity_kg);
  const sim = new DeviceSim(fleet, device, catalogue);
  const days: WasherDay[] = Array.from({ length: Math.round((toMs - fromMs) / DAY) }, () => ({ cycles: 0, over: 0, loadShare: [], codes: [], programs: {} }));
  for (const r of sim.kept(fromMs, toMs)) {
    const d = days[Math.floor((r.timeMs - fromMs) / DAY)];
    if (r.channel === 'events') {
      if (r.body.severity !== 'info') d.codes.push(String(r.body.code));
      continue;
    }
    d.cycles++;
    d.programs[String(r.body.program)] = (d.programs[String(r.body.program)] ?? 0) + 1;
    const load = Number(r.body.load_kg);
    if (load > capacity) d.over++;
    if (r.body.program !== 'wool' && r.body.program !== 'delicates') d.loadShare.push(load / capacity);
  }
  return days;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / xs.length;

// One realistic washer fleet, half a year of its history, shared by the tests below.
const fleet = fleetOf(500, 11, WASHERS, 0, 'realistic');
const manifest = manifestOf(fleet, undefined, catalogue);
const FROM = EPOCH - 180 * DAY;
let cached: Map<string, WasherDay[]> | null = null;
function history(): Map<string, WasherDay[]> {
  cached ??= new Map(fleet.devices.map((d) => [d.id, washerDays(fleet, d.id, FROM, EPOCH)]));
  return cached;
}
const entryOf = (id: string) => manifest.devices.find((d) => d.id === id)!;

describe('model profiles', () => {
  it('every reading carries its device firmware version, as the manifest records it', () => {
    const mixed = fleetOf(60, 3, undefined, 0, 'realistic');
    const m = manifestOf(mixed);
    const versions = new Set<string>();
    for (const d of mixed.devices) {
      const want = m.devices.find((e) => e.id === d.id)!.firmwareVersion;
      assert.match(String(want), /^\d+\.\d+\.\d+$/);
      let n = 0;
      for (const r of new DeviceSim(mixed, d, catalogue).readings(EPOCH - 3 * DAY, EPOCH)) {
        assert.equal(r.reading.firmware, want, `${d.id}: ${JSON.stringify(r.reading)}`);
        n++;
      }
      if (n > 0) versions.add(String(want));
    }
    assert.ok(versions.size >= 4, `several versions across kinds: ${[...versions]}`);
  });

  it('the manifest records each model profile and which devices run the faulty firmware', () => {
    const wm7 = manifest.models!.find((m) => m.id === 'WM-7')!;
    assert.deepEqual(wm7.failure?.faultyFirmware, { version: '4.2.1', multiplier: 4 });
    assert.ok(wm7.failure!.errorsPer100Cycles > 0 && wm7.failure!.overloadMultiplier > 1);
    assert.ok(wm7.usage && wm7.firmware.versions.includes('4.2.1'));
    assert.equal(manifest.models!.filter((m) => m.failure?.faultyFirmware).length, 1, 'one model has a faulty firmware');
    const faulty = manifest.devices.filter((d) => d.faultyFirmware);
    assert.ok(faulty.length >= 10, `${faulty.length} devices on the faulty firmware`);
    for (const d of manifest.devices) {
      assert.equal(Boolean(d.faultyFirmware), d.model === 'WM-7' && d.firmwareVersion === '4.2.1', d.id);
    }
    // A clean fleet plants no profile.
    const clean = manifestOf(fleetOf(50, 11, WASHERS, 0, 'clean'), undefined, catalogue);
    assert.ok(clean.models!.every((m) => !m.failure && !m.usage));
    assert.ok(clean.devices.every((d) => !d.faultyFirmware));
  });

  it('WM-7 on firmware 4.2.1 reports warnings per 100 cycles several times as often as WM-7 on the others', () => {
    const rate = { faulty: { cycles: 0, errors: 0 }, other: { cycles: 0, errors: 0 } };
    for (const d of fleet.devices) {
      if (d.model !== 'WM-7' || episodesOf(d).length > 0) continue; // ordinary households only
      const r = entryOf(d.id).faultyFirmware ? rate.faulty : rate.other;
      for (const day of history().get(d.id)!) {
        r.cycles += day.cycles;
        r.errors += day.codes.length;
      }
    }
    const per100 = (x: { cycles: number; errors: number }) => (100 * x.errors) / x.cycles;
    assert.ok(rate.faulty.cycles > 1000 && rate.other.cycles > 1000, JSON.stringify(rate));
    assert.ok(per100(rate.faulty) > 2.2 * per100(rate.other), `faulty ${per100(rate.faulty).toFixed(2)} vs ${per100(rate.other).toFixed(2)} per 100 cycles`);
    // Realistic-low all the same: a few warnings per 100 cycles at most.
    assert.ok(per100(rate.faulty) < 6 && per100(rate.other) < 2, JSON.stringify(rate));
  });

  it('a day with a wash above the drum capacity brings more warnings per cycle than a day without', () => {
    const over = { cycles: 0, errors: 0 };
    const within = { cycles: 0, errors: 0 };
    for (const d of fleet.devices) {
      if (episodesOf(d).some((e) => e.persona === 'recurring-error') || entryOf(d.id).faultyFirmware) continue;
      for (const day of history().get(d.id)!) {
        const x = day.over > 0 ? over : within;
        x.cycles += day.cycles;
        x.errors += day.codes.length;
      }
    }
    assert.ok(over.cycles > 2000, JSON.stringify(over));
    const ratio = (over.errors / over.cycles) / (within.errors / within.cycles);
    assert.ok(ratio > 1.8, `warnings per cycle on overloaded days ${ratio.toFixed(2)}× those of other days (${JSON.stringify({ over, within })})`);
  });

  it('an owner who outgrows the washer loads above its drum on most washes, and the manifest names a bigger model that holds the load', () => {
    let outgrowing = 0;
    for (const d of fleet.devices) {
      const e = entryOf(d.id);
      const days = history().get(d.id)!.filter((_, i) => personaOn(d, 'washer-overloader', FROM + i * DAY + DAY / 2));
      const shares = days.flatMap((x) => x.loadShare);
      if (e.outgrows) {
        outgrowing++;
        const capacity = Number(catalogue.get(d.model)!.capacity_kg);
        if (shares.length >= 20) assert.ok(shares.filter((s) => s > 1).length / shares.length > 0.45, `${d.id}: ${shares.length} washes`);
        assert.ok(e.overload && e.overload.share >= 0.5);
        if (e.overload!.fits) {
          const fits = Number(catalogue.get(e.overload!.fits)!.capacity_kg);
          assert.ok(fits > capacity && fits >= e.overload!.typicalKg, `${d.id}: ${JSON.stringify(e.overload)}`);
        } else assert.ok(e.overload!.typicalKg > 12);
      } else if (!episodesOf(d).some((x) => x.persona === 'washer-overloader')) {
        assert.equal(e.outgrows, false);
        // Even a household at the brim reads clearly above it (by more than the sensor's 0.5 kg) on a few washes only.
        const all = history().get(d.id)!.flatMap((x) => x.loadShare);
        const limit = 1 + 0.5 / Number(catalogue.get(d.model)!.capacity_kg);
        if (all.length >= 20) assert.ok(all.filter((s) => s > limit).length / all.length < 0.25, `${d.id}: ${all.filter((s) => s > limit).length} of ${all.length}`);
      }
    }
    assert.ok(outgrowing >= 5, `${outgrowing} owners outgrow their washer`);
  });

  it("an overloader's recurring error comes mostly on days with an overloaded wash, and the manifest says so", () => {
    const shares = planFleet({ seed: 5, devices: 400, mix: WASHERS, epochMs: EPOCH, catalogue, faultShare: 0, profile: 'realistic', personaShares: { 'washer-overloader': 0.6 } });
    const m = manifestOf(shares, undefined, catalogue);
    const linked = m.devices.filter((d) => d.errorsFollowOverload);
    assert.ok(linked.length >= 5, `${linked.length} devices`);
    let onOver = 0;
    let onOther = 0;
    let overDays = 0;
    let otherDays = 0;
    for (const e of linked) {
      const d = shares.devices.find((x) => x.id === e.id)!;
      const ep = episodesOf(d).find((x) => x.persona === 'recurring-error')!;
      const from = Math.floor(ep.fromMs! / DAY) * DAY;
      const to = Math.min(ep.toMs ?? EPOCH, d.activeUntilMs ?? EPOCH);
      if (to - from < 7 * DAY) continue;
      washerDays(shares, d.id, from, Math.floor(to / DAY) * DAY).forEach((day) => {
        if (day.cycles === 0) return;
        const e21 = day.codes.filter((c) => c === 'E21').length;
        if (day.over > 0) {
          onOver += e21;
          overDays += day.cycles;
        } else {
          onOther += e21;
          otherDays += day.cycles;
        }
      });
    }
    assert.ok(overDays > 50 && otherDays > 20, JSON.stringify({ overDays, otherDays }));
    assert.ok(onOver / overDays > 2.5 * (onOther / otherDays), JSON.stringify({ onOver, overDays, onOther, otherDays }));
    // A device with only one of the two patterns is not marked.
    for (const e of m.devices) {
      const ps = new Set(episodesOf(shares.devices.find((x) => x.id === e.id)!).map((x) => x.persona));
      if (!(ps.has('washer-overloader') && ps.has('recurring-error'))) assert.ok(!e.errorsFollowOverload, e.id);
    }
  });

  it("a small drum's owners fill it fuller and choose quick programs more, a big one's intensive programs", () => {
    const byModel = new Map<string, { loads: number[]; cycles: number; quick: number; intensive: number; devices: number }>();
    for (const d of fleet.devices) {
      if (episodesOf(d).length > 0 || d.traits?.length) continue;
      const x = byModel.get(d.model) ?? { loads: [], cycles: 0, quick: 0, intensive: 0, devices: 0 };
      for (const day of history().get(d.id)!) {
        x.loads.push(...day.loadShare);
        x.cycles += day.cycles;
        x.quick += day.programs.quick ?? 0;
        x.intensive += day.programs.intensive ?? 0;
      }
      x.devices++;
      byModel.set(d.model, x);
    }
    const small = byModel.get('WM-6')!;
    const big = byModel.get('WM-12')!;
    assert.ok(small.devices >= 10 && big.devices >= 10, `${small.devices} WM-6, ${big.devices} WM-12`);
    assert.ok(mean(small.loads) > mean(big.loads) + 0.1, `WM-6 ${mean(small.loads).toFixed(2)}, WM-12 ${mean(big.loads).toFixed(2)} of the drum`);
    assert.ok(small.quick / small.cycles > 1.5 * (big.quick / big.cycles), `quick: WM-6 ${small.quick}/${small.cycles}, WM-12 ${big.quick}/${big.cycles}`);
    assert.ok(big.intensive / big.cycles > 2 * (small.intensive / small.cycles), `intensive: WM-6 ${small.intensive}/${small.cycles}, WM-12 ${big.intensive}/${big.cycles}`);
  });

  it('a clean fleet keeps its plain error mix: no machine faults planted', () => {
    const clean = fleetOf(80, 11, WASHERS, 0, 'clean');
    const codes = new Set<string>();
    for (const d of clean.devices) for (const day of washerDays(clean, d.id, EPOCH - 60 * DAY, EPOCH)) for (const c of day.codes) codes.add(c);
    assert.ok(!codes.has('E32') && !codes.has('E41'), [...codes].join(','));
  });
});
