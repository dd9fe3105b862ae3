import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorizeForward, authorizePublish, authorizeSubscribe } from '../broker/index.ts';

// The analytics identity (registry role `analytics`) is the one that may publish triggers.
test('the analytics identity publishes only triggers/{category}/{ruleId}, never retained', () => {
  const who = { role: 'analytics' as const, id: 'analytics' };
  const ok = (t: string, retain = false) => authorizePublish(who, t, retain, Buffer.from('{}')).ok;
  assert.equal(ok('triggers/upsell/washer-overloaded'), true);
  assert.equal(ok('triggers/service/car-health'), true);
  assert.equal(ok('triggers/upsell/washer-overloaded', true), false);
  assert.equal(ok('triggers/spam/washer-overloaded'), false);
  assert.equal(ok('triggers/upsell/Bad_Rule'), false);
  assert.equal(ok('triggers/upsell/a/b'), false);
  assert.equal(ok('devices/x/telemetry'), false);
  assert.equal(authorizeSubscribe(who, 'devices/#'), false);
  assert.equal(authorizeForward(who, 'devices/x/telemetry'), false);
  // Consumers still may not publish anything.
  assert.equal(authorizePublish({ role: 'consumer', id: 'c', categories: ['upsell'] }, 'triggers/upsell/washer-overloaded', false, Buffer.from('{}')).ok, false);
});
