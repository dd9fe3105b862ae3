import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fleetSims } from '../generate.ts';
import { catalogue, DAY, EPOCH, fleetOf, jsonl } from './fixtures.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('determinism', () => {
  it('gives byte-identical readings for the same seed', () => {
    const a = jsonl(fleetOf(40, 11), EPOCH - 10 * DAY, EPOCH);
    const b = jsonl(fleetOf(40, 11), EPOCH - 10 * DAY, EPOCH);
    assert.ok(a.length > 100_000, `expected a sizeable output, got ${a.length} bytes`);
    assert.equal(sha(a), sha(b));
  });

  it('gives different readings for different seeds', () => {
    const a = jsonl(fleetOf(40, 11), EPOCH - 3 * DAY, EPOCH).split('\n');
    const b = jsonl(fleetOf(40, 12), EPOCH - 3 * DAY, EPOCH).split('\n');
    const same = a.filter((line, i) => b[i] === line).length;
    assert.ok(same < a.length * 0.01, `${same} of ${a.length} lines are identical`);
  });

  it('gives the same readings whether generated at once, in pages, or out of order', () => {
    const fleet = fleetOf(30, 5);
    const from = EPOCH - 20 * DAY;
    for (const sim of fleetSims(fleet, catalogue)) {
      const whole = [...sim.readings(from, EPOCH)].map((r) => JSON.stringify(r.reading));
      // Pages that cut through days at odd hours, asked for backwards, on the same object.
      const cuts = [from, from + 3.3 * DAY, from + 7 * DAY + 1234, from + 15.5 * DAY, EPOCH];
      const pages: string[][] = [];
      for (let i = cuts.length - 2; i >= 0; i--) pages[i] = [...sim.readings(cuts[i], cuts[i + 1])].map((r) => JSON.stringify(r.reading));
      assert.deepEqual(pages.flat(), whole, sim.device.id);
    }
  });

  for (const profile of ['realistic', 'clean'] as const) {
    it(`plans the same fleet for the same seed, with exact persona counts (${profile})`, () => {
      const a = fleetOf(1_000, 3, undefined, undefined, profile);
      assert.deepEqual(fleetOf(1_000, 3, undefined, undefined, profile), a);
      // The fleet as planned; a realistic one also holds the machines bought to replace some.
      const planned = a.devices.filter((d) => !d.replaces);
      const count = (kind: string, persona: string) => planned.filter((d) => d.kind === kind && d.persona === persona).length;
      assert.equal(planned.filter((d) => d.kind === 'washer').length, 500);
      assert.equal(planned.filter((d) => d.kind === 'fridge').length, 300);
      assert.equal(planned.filter((d) => d.kind === 'car').length, 200);
      assert.equal(count('washer', 'washer-overloader'), 40);
      assert.equal(count('fridge', 'fridge-crowded'), 24);
      assert.equal(count('car', 'car-low-mileage'), 20);
      assert.equal(new Set(planned.map((d) => d.id)).size, 1_000);
      const replacements = a.devices.filter((d) => d.replaces);
      if (profile === 'clean') assert.equal(replacements.length, 0);
      else {
        assert.ok(replacements.length > 0, 'a realistic fleet replaces some upsold devices');
        for (const r of replacements) {
          const old = a.devices.find((d) => d.id === r.replaces)!;
          assert.equal(old.replacedBy, r.id);
          assert.equal(r.owner, old.owner);
          assert.equal(r.model, catalogue.get(old.model)!.successor, `${r.id} is the successor of ${old.model}`);
        }
      }
    });
  }
});
