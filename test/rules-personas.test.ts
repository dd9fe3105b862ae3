import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageGatewayError } from '../protocol/errors.ts';
import { PERSONAS } from '../firmware-sim/personas.ts';
import { loadRules, parseRules } from '../analytics/rules.ts';

test('the shipped rule catalogue is valid and every persona of the simulator has a rule', () => {
  const rules = loadRules();
  assert.ok(rules.length >= 10);
  const covered = new Set(rules.flatMap((r) => r.personas));
  for (const p of PERSONAS.filter((x) => x !== 'normal')) assert.ok(covered.has(p), `no rule names persona ${p}`);
});

test('an invalid catalogue is refused with every problem at once', () => {
  const doc = {
    rules: [
      { id: 'a', version: 1, description: 'x', category: 'upsell', purpose: 'service', kinds: ['washer'], detector: 'washer-overloaded', params: { minShare: 2 }, cooldownDays: 1, offer: { type: 'model-upgrade' } },
      { id: 'b', version: 1, description: 'x', category: 'service', purpose: 'service', kinds: ['car'], detector: 'nope', cooldownDays: 1, offer: { type: 'service-visit' } },
      { id: 'c', version: 1, description: 'x', category: 'service', purpose: 'service', kinds: ['car'], detector: 'washer-bearing-wear', cooldownDays: 1, offer: { type: 'service-visit' }, schedule: 'every day' },
    ],
  };
  assert.throws(() => parseRules(doc), (err: UsageGatewayError) => {
    assert.equal(err.code, 'GW_ERR_RULES');
    assert.match(err.message, /5 problems/);
    assert.match(err.message, /rules\.0 \(a\)\.purpose: a upsell rule needs "marketing"/);
    assert.match(err.message, /rules\.0 \(a\)\.params\.minShare/);
    assert.match(err.message, /rules\.1 \(b\)\.detector: unknown detector "nope"/);
    assert.match(err.message, /rules\.2 \(c\)\.kinds: detector washer-bearing-wear does not understand car/);
    assert.match(err.message, /rules\.2 \(c\)\.schedule/);
    return true;
  });
});
