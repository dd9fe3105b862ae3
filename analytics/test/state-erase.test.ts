import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { triggerId, type Trigger } from '../../protocol/trigger.ts';
import { StateStore } from '../store/state.ts';

// The analytics state's erasure on a real LMDB environment: everything of one device or owner
// goes in one transaction, the rest stays, and a delivery under way when it was cancelled
// cannot bring its outbox entry back.
let dir: string;
let state: StateStore;
const T0 = Date.parse('2026-11-01T00:00:00Z');

function trigger(deviceId: string, owner: string, ruleId: string, atMs: number): Trigger {
  const from = new Date(atMs - 28 * 86_400_000).toISOString();
  const to = new Date(atMs).toISOString();
  return {
    id: triggerId(ruleId, 1, deviceId, from, to), ruleId, ruleVersion: 1, category: 'upsell', purpose: 'marketing', deviceId, kind: 'washer', model: 'WM-8', owner,
    offer: { type: 'model-upgrade', target: 'WM-9' }, evidence: { summary: 's', window: { from, to }, figures: {}, thresholds: {} }, createdAt: to,
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ug-state-'));
  state = new StateStore(dir);
  state.open();
});
after(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

test('eraseDevice removes triggers, feedback, pending and claimed deliveries, dead letters and holds of that device only', async () => {
  const gone = [trigger('w-gone', 'o-a', 'washer-overloaded', T0), trigger('w-gone', 'o-a', 'washer-heavy-use', T0 + 1)];
  const kept = trigger('w-kept', 'o-b', 'washer-overloaded', T0);
  for (const t of [...gone, kept]) assert.ok(await state.insert(t, ['webhook', 'influx'], T0));
  const now = T0 + 1_000;
  await state.addFeedback(gone[0].id, { outcome: 'declined', at: new Date(now).toISOString(), receivedAt: new Date(now).toISOString() }, ['influx'], now);
  await state.putHold({ kind: 'fault', deviceId: 'w-gone', owner: 'o-a', ruleId: 'recurring-error', category: 'service', detail: 'd', summary: 's', window: { from: gone[0].evidence.window.from, to: gone[0].evidence.window.to }, at: new Date(now).toISOString() });
  await state.putHold({ kind: 'fault', deviceId: 'w-kept', owner: 'o-b', ruleId: 'recurring-error', category: 'service', detail: 'd', summary: 's', window: { from: kept.evidence.window.from, to: kept.evidence.window.to }, at: new Date(now).toISOString() });
  // Every delivery is taken for an attempt; one of the erased device's fails for good before the erasure.
  const claimed = await state.claimDue(now, 100, 60_000);
  assert.equal(claimed.length, 7);
  const dead = claimed.find((e) => e.triggerId === gone[1].id && e.sink === 'webhook')!;
  await state.deadLetter(dead, 'HTTP 400', now);
  assert.equal(state.deadLetters().length, 1);

  const erased = await state.eraseDevice('w-gone', now + 10);
  assert.deepEqual({ ...erased, lastClaimedAt: undefined }, { triggers: 2, feedback: 1, outbox: 4, deadLetters: 1, holds: 1, inFlight: 4, lastClaimedAt: undefined });
  assert.equal(erased.lastClaimedAt, now);
  assert.equal(state.get(gone[0].id), undefined);
  assert.deepEqual(state.list({ limit: 100, deviceId: 'w-gone' }).items, []);
  assert.deepEqual([...state.ofOwner('o-a')], []);
  assert.deepEqual(state.holdsOfDevice('w-gone'), []);
  assert.deepEqual(state.deadLetters(), []);

  // The attempts under way end after the erasure: nothing comes back.
  for (const e of claimed.filter((x) => x.triggerId !== kept.id && x !== dead)) {
    await state.retry(e, now + 5_000, 'HTTP 500', now + 20);
    await state.delivered(e, now + 20);
    await state.dropped(e, 'device-removed: gone', now + 20);
  }
  assert.equal(state.outboxDepth(), 2, "only the kept device's two deliveries");
  assert.deepEqual(state.outboxOf(gone[0].id), []);
  assert.equal(state.get(gone[0].id), undefined);
  // The kept device is untouched.
  assert.equal(state.get(kept.id)?.trigger.owner, 'o-b');
  assert.equal(state.holdsOfDevice('w-kept').length, 1);
});

test('eraseOwner removes the owner\'s triggers and holds on any device, and leaves a later owner\'s', async () => {
  const sellers = trigger('w-sold', 'o-seller', 'washer-overloaded', T0);
  const buyers = trigger('w-sold', 'o-buyer', 'washer-overloaded', T0 + 200 * 86_400_000);
  await state.insert(sellers, ['influx'], T0);
  await state.insert(buyers, ['influx'], T0);
  await state.putHold({ kind: 'held-back', reason: 'cooldown', deviceId: 'w-sold', owner: 'o-seller', ruleId: 'washer-heavy-use', category: 'upsell', detail: 'd', summary: 's', window: sellers.evidence.window, at: sellers.createdAt });
  const erased = await state.eraseOwner('o-seller', T0);
  assert.equal(erased.triggers, 1);
  assert.equal(erased.holds, 1);
  assert.equal(erased.outbox, 1);
  assert.equal(erased.inFlight, 0, 'a delivery not taken for an attempt is not in flight');
  assert.equal(state.get(sellers.id), undefined);
  assert.equal(state.get(buyers.id)?.trigger.owner, 'o-buyer');
  assert.deepEqual(state.holdsOfOwner('o-seller'), []);
});
