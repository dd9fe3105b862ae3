import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DAY_MS } from '../../core/time.ts';
import type { DeviceInfo } from '../detectors/index.ts';
import { buildTrigger, type Candidate } from '../engine/evaluate.ts';
import { checkPolicy, policyOrder, type PolicyOptions, type RunContext } from '../engine/policy.ts';
import { loadRules } from '../rules.ts';
import { StateStore } from '../store/state.ts';

// The delivery policy's decisions, one reason at a time, on the shipped rule catalogue and a
// real state store (LMDB in a temporary folder); no InfluxDB, no detectors run. Each test uses
// its own devices and owners, so what one stores says nothing to another.

const NOW = Date.parse('2026-11-01T00:00:00Z');
const rules = loadRules();
const POLICY: PolicyOptions = { frequencyCapMax: 0, frequencyCapDays: 7, declineSuppressionDays: 120, serviceOpenDays: 30 };
let dir: string;
let state: StateStore;

function device(id: string, more: Partial<DeviceInfo> = {}): DeviceInfo {
  return { id, kind: 'washer', model: 'WM-7', owner: `owner-${id}`, consent: ['marketing', 'service'], ...more };
}

/** A detection of the rule on the device for the window that ends at `atMs`. */
function candidate(ruleId: string, dev: DeviceInfo, atMs = NOW): Candidate {
  const rule = rules.find((r) => r.id === ruleId);
  assert.ok(rule, `no rule ${ruleId} in the catalogue`);
  return { rule, device: dev, windowFrom: atMs - rule.windowDays * DAY_MS, windowTo: atMs, detection: { summary: 'seen', figures: {}, thresholds: {} } };
}

const decide = (c: Candidate, o: PolicyOptions = POLICY, run?: RunContext) => checkPolicy(c, buildTrigger(c, c.windowTo), state, o, c.windowTo, run);

/** Stores the candidate as a trigger created at the end of its window, as a run would. */
async function fired(c: Candidate) {
  const t = buildTrigger(c, c.windowTo);
  assert.ok(await state.insert(t, [], c.windowTo));
  return t;
}

async function feedback(id: string, outcome: 'declined' | 'converted' | 'accepted', atMs: number) {
  const at = new Date(atMs).toISOString();
  assert.ok(await state.addFeedback(id, { outcome, at, receivedAt: at }, [], atMs));
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ug-policy-'));
  state = new StateStore(dir);
  state.open();
});
after(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

describe('consent and ownership', () => {
  test('a rule fires only for a purpose the owner consented to', () => {
    const serviceOnly = device('c-1', { consent: ['service'] });
    assert.equal(decide(candidate('washer-overloaded', serviceOnly)), 'no-consent');
    assert.equal(decide(candidate('usage-collapse', serviceOnly)), 'no-consent');
    assert.equal(decide(candidate('recurring-error', serviceOnly)), null);
    assert.equal(decide(candidate('recurring-error', device('c-2', { consent: [] }))), 'no-consent');
    assert.equal(decide(candidate('washer-overloaded', device('c-3', { consent: ['marketing'] }))), null);
  });

  test('after a change of owner, marketing does not use the previous owner\'s usage; service still does', () => {
    const resold = device('o-1', { registeredAt: new Date(NOW - 400 * DAY_MS).toISOString(), ownerSince: new Date(NOW - 10 * DAY_MS).toISOString() });
    assert.equal(decide(candidate('washer-overloaded', resold)), 'owner-change');
    assert.equal(decide(candidate('recurring-error', resold)), null);
    // Once the whole window is the new owner's, marketing may fire again.
    assert.equal(decide(candidate('washer-overloaded', resold, NOW + 30 * DAY_MS)), null);
    // The first owner (owner since registration) owns the device's whole history.
    const first = device('o-2', { registeredAt: new Date(NOW - 400 * DAY_MS).toISOString(), ownerSince: new Date(NOW - 400 * DAY_MS).toISOString() });
    assert.equal(decide(candidate('washer-overloaded', first)), null);
  });
});

describe('earlier triggers of the device', () => {
  test('the same trigger is not made twice', async () => {
    const c = candidate('washer-overloaded', device('d-1'));
    assert.equal(decide(c), null);
    await fired(c);
    assert.equal(decide(c), 'duplicate');
  });

  test('a rule waits out its cooldown on a device, and only on that device', async () => {
    const dev = device('cd-1');
    await fired(candidate('washer-overloaded', dev, NOW - 30 * DAY_MS)); // cooldown 90 days
    assert.equal(decide(candidate('washer-overloaded', dev)), 'cooldown');
    assert.equal(decide(candidate('washer-heavy-use', dev)), null, 'another rule on the same device');
    assert.equal(decide(candidate('washer-overloaded', device('cd-2', { owner: dev.owner }))), null, 'the same rule on another device');
    assert.equal(decide(candidate('washer-overloaded', dev, NOW + 61 * DAY_MS)), null, 'after the cooldown');
  });
});

describe('what the owner said', () => {
  test('a declined offer type is not offered to the owner again, on any device, within the suppression time', async () => {
    const washer = device('dc-1');
    const fridge = device('dc-2', { owner: washer.owner, kind: 'fridge', model: 'FR-350' });
    const upgrade = await fired(candidate('washer-overloaded', washer, NOW - 20 * DAY_MS));
    assert.equal(decide(candidate('fridge-crowded', fridge)), null, 'before the decline');
    await feedback(upgrade.id, 'declined', NOW - 10 * DAY_MS);
    assert.equal(decide(candidate('fridge-crowded', fridge)), 'declined', 'a model upgrade for the fridge');
    assert.equal(decide(candidate('washer-heavy-use', washer)), null, 'another offer type (extended warranty)');
    assert.equal(decide(candidate('fridge-crowded', fridge), { ...POLICY, declineSuppressionDays: 5 }), null, 'the decline is older than the suppression time');
    assert.equal(decide(candidate('fridge-crowded', device('dc-3', { kind: 'fridge', model: 'FR-350' }))), null, "another owner's fridge");
  });

  test('a converted upgrade means the device was replaced: no retention call for it', async () => {
    const old = device('rp-1');
    const upgrade = await fired(candidate('washer-overloaded', old, NOW - 40 * DAY_MS));
    assert.equal(decide(candidate('usage-collapse', old)), null, 'before the purchase');
    await feedback(upgrade.id, 'converted', NOW - 35 * DAY_MS);
    assert.equal(decide(candidate('usage-collapse', old)), 'replaced');
    assert.equal(decide(candidate('device-silent', old)), 'replaced');
    assert.equal(decide(candidate('usage-collapse', device('rp-2', { owner: old.owner }))), null, "the owner's other device");
  });
});

describe('an open fault holds back offers and retention calls', () => {
  test('a fault found in this run', () => {
    const dev = device('f-1');
    const run: RunContext = { faults: new Set([dev.id]) };
    assert.equal(decide(candidate('washer-overloaded', dev), POLICY, run), 'service-open');
    assert.equal(decide(candidate('usage-collapse', dev), POLICY, run), 'service-open');
    assert.equal(decide(candidate('recurring-error', dev), POLICY, run), null, 'the service trigger itself');
    assert.equal(decide(candidate('washer-overloaded', device('f-2')), POLICY, run), null, 'another device');
  });

  test('a stored service trigger without a closing outcome, until it is handled or older than serviceOpenDays', async () => {
    const dev = device('f-3');
    const visit = await fired(candidate('recurring-error', dev, NOW - 5 * DAY_MS));
    assert.equal(decide(candidate('washer-overloaded', dev)), 'service-open');
    await feedback(visit.id, 'accepted', NOW - 4 * DAY_MS);
    assert.equal(decide(candidate('washer-overloaded', dev)), 'service-open', 'accepted is not yet handled');
    await feedback(visit.id, 'converted', NOW - 3 * DAY_MS);
    assert.equal(decide(candidate('washer-overloaded', dev)), null, 'handled');
    const other = device('f-4');
    await fired(candidate('recurring-error', other, NOW - 5 * DAY_MS));
    assert.equal(decide(candidate('washer-overloaded', other, NOW + 26 * DAY_MS)), null, 'opened more than serviceOpenDays ago');
  });

  test('a fault held without becoming a trigger (no service consent) holds back just the same', async () => {
    const dev = device('f-5', { consent: ['marketing'] });
    const window = { from: new Date(NOW - 14 * DAY_MS).toISOString(), to: new Date(NOW - 2 * DAY_MS).toISOString() };
    await state.putHold({ kind: 'fault', deviceId: dev.id, owner: dev.owner, ruleId: 'recurring-error', category: 'service', reason: 'no-consent', detail: 'a fault, without service consent', summary: 'errors', window, at: new Date(NOW - 2 * DAY_MS).toISOString() });
    assert.equal(decide(candidate('washer-overloaded', dev)), 'service-open');
    assert.equal(decide(candidate('washer-overloaded', dev, NOW + 29 * DAY_MS)), null, 'the hold is older than serviceOpenDays');
  });
});

describe('frequency cap and order', () => {
  test('an owner gets at most frequencyCapMax marketing contacts within frequencyCapDays; service is not capped', async () => {
    const a = device('cap-1');
    const b = device('cap-2', { owner: a.owner });
    const capped = { ...POLICY, frequencyCapMax: 2 };
    await fired(candidate('washer-overloaded', a, NOW - 2 * DAY_MS));
    assert.equal(decide(candidate('washer-overloaded', b), capped), null, 'one contact so far');
    await fired(candidate('washer-heavy-use', a, NOW - 1 * DAY_MS));
    assert.equal(decide(candidate('washer-overloaded', b), capped), 'frequency-cap');
    assert.equal(decide(candidate('recurring-error', b), capped), null, 'service');
    assert.equal(decide(candidate('washer-overloaded', b), { ...capped, frequencyCapMax: 3 }), null, 'a higher cap');
    assert.equal(decide(candidate('washer-overloaded', b, NOW + 7 * DAY_MS), capped), null, 'the contacts are older than frequencyCapDays');
  });

  test('candidates meet the policy service first, then marketing by rule priority', () => {
    const dev = device('ord-1');
    const order = ['washer-overloaded', 'recurring-error', 'washer-heavy-use', 'usage-collapse'].map((id) => candidate(id, dev)).sort(policyOrder).map((c) => c.rule.id);
    // usage-collapse has priority 40, washer-overloaded 30, washer-heavy-use 20 (config/rules.yaml).
    assert.deepEqual(order, ['recurring-error', 'usage-collapse', 'washer-overloaded', 'washer-heavy-use']);
  });
});
