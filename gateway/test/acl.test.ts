import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { consumerCategories } from '../../protocol/registry.ts';
import { authorizeForward, authorizePublish, authorizeSubscribe, type Identity } from '../broker/index.ts';

// The broker's topic rules (broker/acl.ts) as pure decisions, one identity at a time; the same
// rules over real MQTT connections are in auth.test.ts and analytics' privacy test.

const payload = (s = '{}') => Buffer.from(s);
const mayPublish = (who: Identity, topic: string, retain = false, body = '{}') => authorizePublish(who, topic, retain, payload(body)).ok;
const consumer = (purposes: Array<'marketing' | 'service' | 'analytics'>, categories?: Array<'upsell' | 'service' | 'retention'>): Identity =>
  ({ role: 'consumer', id: `tool-${purposes.join('-') || 'none'}`, categories: consumerCategories({ purposes, categories }) });

describe('devices', () => {
  const dev: Identity = { role: 'device', id: 'w-1', kind: 'washer', model: 'WM-7' };

  test('publish only under their own devices/{id}/, readings on telemetry and events, retain only on status', () => {
    assert.deepEqual(authorizePublish(dev, 'devices/w-1/telemetry', false, payload()), { ok: true, reading: true, channel: 'telemetry' });
    assert.deepEqual(authorizePublish(dev, 'devices/w-1/events', false, payload()), { ok: true, reading: true, channel: 'events' });
    assert.deepEqual(authorizePublish(dev, 'devices/w-1/status', true, payload('online')), { ok: true, reading: false });
    assert.equal(mayPublish(dev, 'devices/w-1/status', true, 'broken'), false, 'status is online or offline');
    assert.equal(mayPublish(dev, 'devices/w-1/telemetry', true), false, 'retained telemetry');
    assert.equal(mayPublish(dev, 'devices/w-2/telemetry'), false, "another device's topic");
    assert.equal(mayPublish(dev, 'devices/w-1/rejected'), false, 'the gateway writes rejected');
    assert.equal(mayPublish(dev, 'devices/w-1/commands/x'), false);
    assert.equal(mayPublish(dev, 'triggers/upsell/washer-overloaded'), false);
    assert.equal(mayPublish(dev, '$SYS/x'), false);
    const refused = authorizePublish(dev, 'devices/w-2/telemetry', false, payload());
    assert.ok(!refused.ok && /devices\/w-1\//.test(refused.reason), 'the refusal names the topics the device may use');
  });

  test('subscribe only to their own rejected notices and commands; receive only their own topics', () => {
    assert.equal(authorizeSubscribe(dev, 'devices/w-1/rejected'), true);
    assert.equal(authorizeSubscribe(dev, 'devices/w-1/commands/#'), true);
    assert.equal(authorizeSubscribe(dev, 'devices/w-1/commands'), true);
    assert.equal(authorizeSubscribe(dev, 'devices/w-1/#'), false, 'a wildcard that reaches its telemetry');
    assert.equal(authorizeSubscribe(dev, 'devices/w-2/rejected'), false);
    assert.equal(authorizeSubscribe(dev, 'devices/+/commands/#'), false);
    assert.equal(authorizeSubscribe(dev, 'triggers/#'), false);
    assert.equal(authorizeForward(dev, 'devices/w-1/rejected'), true);
    assert.equal(authorizeForward(dev, 'devices/w-2/rejected'), false);
    assert.equal(authorizeForward(dev, 'triggers/upsell/washer-overloaded'), false);
  });
});

describe('consumers receive only the trigger categories of their purposes', () => {
  test('purposes map to categories: marketing to upsell and retention, service to service; categories narrow them', () => {
    assert.deepEqual(consumerCategories({ purposes: ['marketing'] }), ['upsell', 'retention']);
    assert.deepEqual(consumerCategories({ purposes: ['service'] }), ['service']);
    assert.deepEqual(consumerCategories({ purposes: ['marketing', 'service'] }), ['upsell', 'service', 'retention']);
    assert.deepEqual(consumerCategories({ purposes: ['marketing'], categories: ['upsell', 'service'] }), ['upsell'], 'categories never widen purposes');
    assert.deepEqual(consumerCategories({}), [], 'no purposes, nothing');
    assert.deepEqual(consumerCategories({ purposes: ['analytics'] }), [], 'no trigger category serves the analytics purpose');
  });

  test('a marketing tool subscribes to upsell and retention, never to service nor to a wildcard that reaches it', () => {
    const mkt = consumer(['marketing']);
    assert.equal(authorizeSubscribe(mkt, 'triggers/upsell/#'), true);
    assert.equal(authorizeSubscribe(mkt, 'triggers/retention/usage-collapse'), true);
    assert.equal(authorizeSubscribe(mkt, 'triggers/service/#'), false);
    assert.equal(authorizeSubscribe(mkt, 'triggers/#'), false);
    assert.equal(authorizeSubscribe(mkt, 'triggers/+/recurring-error'), false);
    assert.equal(authorizeSubscribe(mkt, 'devices/#'), false, 'telemetry');
    assert.equal(authorizeSubscribe(mkt, '#'), false);
    assert.equal(authorizeForward(mkt, 'triggers/upsell/washer-overloaded'), true);
    assert.equal(authorizeForward(mkt, 'triggers/service/recurring-error'), false);
    assert.equal(authorizeForward(mkt, 'devices/w-1/telemetry'), false);
  });

  test('a service tool the reverse; a tool of every category may use wildcards under triggers/', () => {
    const svc = consumer(['service']);
    assert.equal(authorizeSubscribe(svc, 'triggers/service/#'), true);
    assert.equal(authorizeSubscribe(svc, 'triggers/upsell/#'), false);
    assert.equal(authorizeSubscribe(svc, 'triggers/#'), false);
    assert.equal(authorizeForward(svc, 'triggers/retention/device-silent'), false);
    const all = consumer(['marketing', 'service']);
    assert.equal(authorizeSubscribe(all, 'triggers/#'), true);
    assert.equal(authorizeSubscribe(all, 'triggers/+/recurring-error'), true);
    assert.equal(authorizeSubscribe(all, 'devices/#'), false);
    const none = consumer([]);
    assert.equal(authorizeSubscribe(none, 'triggers/upsell/#'), false);
  });

  test('consumers publish nothing', () => {
    assert.equal(mayPublish(consumer(['marketing', 'service']), 'triggers/upsell/washer-overloaded'), false);
    assert.equal(mayPublish(consumer(['marketing']), 'tools/anything'), false);
  });
});

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

test('anonymous clients (when enabled) keep out of devices/, triggers/ and $SYS but its heartbeat', () => {
  const anon: Identity = { role: 'anonymous', id: 'a-1' };
  assert.equal(mayPublish(anon, 'lab/bench/1'), true);
  assert.equal(mayPublish(anon, 'devices/w-1/telemetry'), false);
  assert.equal(mayPublish(anon, 'triggers/upsell/x'), false);
  assert.equal(authorizeSubscribe(anon, 'lab/#'), true);
  assert.equal(authorizeSubscribe(anon, 'devices/#'), false);
  assert.equal(authorizeForward(anon, 'devices/w-1/telemetry'), false);
  assert.equal(authorizeForward(anon, '$SYS/broker-1/heartbeat'), true);
  assert.equal(authorizeForward(anon, '$SYS/broker-1/new/clients'), false, 'client ids');
});
