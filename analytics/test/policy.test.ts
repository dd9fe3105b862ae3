import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readingsToLines } from '../../core/influx/index.ts';
import { readingsFor } from '../../protocol/kinds/index.ts';
import type { ManifestDevice } from '../backtest/manifest.ts';
import { makeFleet, writeFleet, type FleetOptions } from './helpers/fleet.ts';
import { analyticsEnv, DAY, TOKEN, type AnalyticsEnv } from './helpers/setup.ts';

// A small fleet with planted personas, registered with varied consent; the rules run at a
// fixed time over its history, through the real InfluxDB, registry, state store and API.
const END = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const opts: FleetOptions = { devices: 90, days: 90, endMs: END, seed: 7, prefix: 'p' };
let env: AnalyticsEnv;
let fleet: ManifestDevice[];
/** An overloaded washer that also reports a recurring fault: its service trigger must block the upsell. */
let both: ManifestDevice;

function byPersona(p: string, kind?: string) {
  return fleet.filter((d) => d.persona === p && (!kind || d.kind === kind));
}

before(async () => {
  env = await analyticsEnv();
  fleet = makeFleet(opts);
  // Two devices of one owner, both with an upsell pattern: the frequency cap must hold them to one.
  const o1 = byPersona('washer-overloader')[0];
  const heavy = byPersona('heavy-user')[0];
  heavy.owner = o1.owner;
  both = byPersona('washer-overloader').find((d) => d.owner !== o1.owner)!;
  assert.ok(both, 'the fleet needs a second overloaded washer');
  await writeFleet(env.store, fleet, opts);
  // Its fault: E21 on four days in the first half of the 14-day window of recurring-error
  // before END, so that the service rule fires at END and no longer a week later.
  const error = readingsFor('washer', 'events')!.get('error')!;
  const faults = [13, 12, 11, 10].map((d) => ({ def: error, timeMs: END - d * DAY + 3_600_000, values: { code: 'E21', severity: 'warning' } }));
  const w = await env.store.write(readingsToLines(faults, { deviceId: both.id, kind: both.kind, model: both.model }));
  assert.ok(w.ok);
  const noMarketing = new Set(fleet.filter((d, i) => i % 5 === 1 && d.owner !== o1.owner && d.id !== both.id).map((d) => d.id));
  await env.register(fleet, (d) => (noMarketing.has(d.id) ? ['service'] : ['marketing', 'service']));
});
after(() => env?.stop());

describe('policy at fire time', () => {
  test('consent, frequency cap, open service, idempotent re-run, feedback changes the next run', async () => {
    const a = env.analytics({ analytics: { policy: { frequencyCapMax: 1, frequencyCapDays: 7, declineSuppressionDays: 90 } } });
    const first = await a.run({ asOfMs: END });
    assert.ok(first.fired > 10, `expected triggers from the planted personas, got ${first.fired}`);
    const all = a.state.list({ limit: 10_000 }).items.map((r) => r.trigger);

    // 2a. No marketing trigger for an owner without marketing consent.
    for (const t of all) {
      const consent = env.registry.device(t.deviceId)!.consent;
      assert.ok(consent.includes(t.purpose), `${t.id} (${t.ruleId}) fired for ${t.deviceId} without ${t.purpose} consent`);
    }
    assert.ok((first.suppressed['no-consent'] ?? 0) > 0, 'some candidates must have been held back for consent');

    // 2c. The frequency cap holds: at most one marketing trigger per owner within 7 days.
    const perOwner = new Map<string, number>();
    for (const t of all.filter((x) => x.purpose === 'marketing')) perOwner.set(t.owner, (perOwner.get(t.owner) ?? 0) + 1);
    for (const [owner, n] of perOwner) assert.ok(n <= 1, `owner ${owner} got ${n} marketing triggers`);
    assert.ok((first.suppressed['frequency-cap'] ?? 0) >= 1, 'the owner with two upsell devices must have been capped');

    // 2d. A device with an open service trigger gets no upsell: the overloaded washer with a
    // recurring fault gets its service visit, and its upsell is held back for that reason.
    for (const t of all.filter((x) => x.category === 'upsell')) {
      assert.ok(!all.some((s) => s.category === 'service' && s.deviceId === t.deviceId), `upsell ${t.ruleId} on ${t.deviceId} while a service trigger is open`);
    }
    const bothService = all.find((t) => t.deviceId === both.id && t.ruleId === 'recurring-error');
    assert.ok(bothService, `${both.id} must get a service trigger for its recurring E21`);
    assert.ok(!all.some((t) => t.deviceId === both.id && t.category === 'upsell'), `${both.id} got an upsell while its service trigger is open`);
    assert.ok((first.suppressed['service-open'] ?? 0) >= 1, 'the upsell must have been held back because of the open service trigger');

    // 3. The same job over the same window creates no duplicates.
    const again = await a.run({ asOfMs: END + 3_600_000 });
    assert.equal(again.fired, 0);
    assert.equal(a.state.count(), all.length);
    assert.equal(new Set(all.map((t) => t.id)).size, all.length);

    // 2c, across runs: a day later, with the cooldowns off so that every marketing rule may fire
    // again, the owners who got a marketing trigger are held back by the cap.
    const marketing = a.rules.filter((r) => r.purpose === 'marketing');
    const cooldowns = marketing.map((r) => r.cooldownDays);
    for (const r of marketing) r.cooldownDays = 0;
    const nextDay = await a.run({ asOfMs: END + DAY, ruleIds: marketing.map((r) => r.id) });
    marketing.forEach((r, i) => { r.cooldownDays = cooldowns[i]; });
    assert.ok((nextDay.suppressed['frequency-cap'] ?? 0) > 0, `the cap must have held owners back, got ${JSON.stringify(nextDay.suppressed)}`);
    const times = new Map<string, number[]>();
    for (const { trigger: t } of a.state.list({ limit: 10_000 }).items) {
      if (t.purpose === 'marketing') times.set(t.owner, [...(times.get(t.owner) ?? []), Date.parse(t.createdAt)].sort((x, y) => x - y));
    }
    for (const [owner, ts] of times) {
      for (let i = 1; i < ts.length; i++) assert.ok(ts[i] - ts[i - 1] >= 7 * DAY, `owner ${owner} got two marketing triggers within 7 days`);
    }

    // 5 + 2b. Feedback through the API: a declined offer does not come back within its suppression time.
    const { api } = await a.start();
    const upsell = all.find((t) => t.ruleId === 'washer-overloaded')!;
    assert.ok(upsell, 'an overloaded washer must have fired');
    const res = await fetch(`http://127.0.0.1:${api}/api/triggers/${upsell.id}/feedback`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'declined', note: 'has a new machine on order' }),
    });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).status, 'declined');
    assert.equal(a.state.get(upsell.id)!.feedback[0].outcome, 'declined');

    // After the cooldown (90 days) the rule would fire again on the same device, but the
    // decline suppresses it until its suppression time (from the feedback's receipt, now, which
    // is two days after END) is over: 120 days still hold at END + 91 days, 60 no longer do.
    const later = END + 91 * DAY;
    const { checkPolicy } = await import('../engine/policy.ts');
    const rule = a.rules.find((r) => r.id === 'washer-overloaded')!;
    const device = { ...fleet.find((d) => d.id === upsell.deviceId)!, consent: ['marketing', 'service'], registeredAt: env.registry.device(upsell.deviceId)!.createdAt, ownerSince: env.registry.device(upsell.deviceId)!.ownerSince };
    const cand = { rule, device, windowFrom: later - 28 * DAY, windowTo: later, detection: { summary: 's', figures: {}, thresholds: {} } };
    const fake = { ...upsell, id: 'f'.repeat(32), createdAt: new Date(later).toISOString() };
    const policy = { frequencyCapMax: 0, frequencyCapDays: 7, declineSuppressionDays: 120, serviceOpenDays: 30 };
    assert.equal(checkPolicy(cand, fake, a.state, policy, later), 'declined');
    assert.equal(checkPolicy(cand, fake, a.state, { ...policy, declineSuppressionDays: 60 }, later), null);

    // The next run's output changes: with the cooldown off, the declined device is held back,
    // and the washer whose service visit is done (converted) now gets its upsell.
    const done = await fetch(`http://127.0.0.1:${api}/api/triggers/${bothService.id}/feedback`, {
      method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'converted' }),
    });
    assert.equal(done.status, 201);
    await a.stop();
    const b = env.analytics({ analytics: { policy: { frequencyCapMax: 0, declineSuppressionDays: 90 } } });
    await b.open();
    for (const r of b.rules) r.cooldownDays = 0;
    const next = await b.run({ asOfMs: END + 7 * DAY });
    const fired = b.state.list({ limit: 10_000, since: END + 7 * DAY }).items.map((r) => r.trigger);
    assert.ok(!fired.some((t) => t.ruleId === upsell.ruleId && t.deviceId === upsell.deviceId), 'the declined offer came back');
    assert.ok((next.suppressed.declined ?? 0) >= 1, 'the decline must be what held it back');
    assert.ok(fired.some((t) => t.deviceId === both.id && t.ruleId === 'washer-overloaded'), `${both.id}: no upsell once its service trigger was closed`);
  });

  test('API: bad feedback and bad tokens get clear errors with codes', async () => {
    const a = env.analytics();
    const { api } = await a.start();
    const base = `http://127.0.0.1:${api}`;
    const noAuth = await fetch(`${base}/api/triggers`);
    assert.equal(noAuth.status, 401);
    assert.equal((await noAuth.json()).error.code, 'GW_ERR_UNAUTHORIZED');
    const wrong = await fetch(`${base}/api/triggers`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const id = a.state.list({ limit: 1 }).items[0].trigger.id;
    const bad = await fetch(`${base}/api/triggers/${id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'maybe', extra: 1 }) });
    assert.equal(bad.status, 400);
    const body = await bad.json();
    assert.equal(body.error.code, 'GW_ERR_BAD_REQUEST');
    assert.match(body.error.message, /outcome/);
    assert.match(body.error.message, /unknown field "extra"/);
    const unknown = await fetch(`${base}/api/triggers/${'0'.repeat(32)}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'accepted' }) });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'GW_ERR_TRIGGER_UNKNOWN');
    const filtered = await (await fetch(`${base}/api/triggers?category=service&limit=5`, { headers: h })).json();
    assert.ok(filtered.items.length > 0 && filtered.items.every((t: { category: string }) => t.category === 'service'));
    // Paging: every trigger once, although a run gives all of its triggers the same creation time.
    const seen: string[] = [];
    for (let next: string | undefined, pages = 0; pages === 0 || next; pages++) {
      assert.ok(pages < 1_000, 'paging does not end');
      const page = await (await fetch(`${base}/api/triggers?limit=4${next ? `&before=${next}` : ''}`, { headers: h })).json();
      seen.push(...page.items.map((t: { id: string }) => t.id));
      next = page.next;
    }
    assert.equal(seen.length, a.state.count());
    assert.equal(new Set(seen).size, seen.length);
    const badCursor = await fetch(`${base}/api/triggers?before=12`, { headers: h });
    assert.equal(badCursor.status, 400);
    const badQuery = await fetch(`${base}/api/triggers?category=spam`, { headers: h });
    assert.equal(badQuery.status, 400);
    // Consent: read and change.
    const dev = fleet[0].id;
    const c1 = await (await fetch(`${base}/api/devices/${dev}/consent`, { headers: h })).json();
    assert.deepEqual([...c1.consent].sort(), ['marketing', 'service']);
    const put = await fetch(`${base}/api/devices/${dev}/consent`, { method: 'PUT', headers: h, body: JSON.stringify({ consent: ['service'] }) });
    assert.equal(put.status, 200);
    assert.deepEqual((await put.json()).consent, ['service']);
    await env.registry.load();
    assert.deepEqual(env.registry.device(dev)!.consent, ['service']);
    const badConsent = await fetch(`${base}/api/devices/${dev}/consent`, { method: 'PUT', headers: h, body: JSON.stringify({ consent: ['spam'] }) });
    assert.equal(badConsent.status, 400);
    const docs = await fetch(`${base}/docs/json`);
    assert.equal(docs.status, 200);
    assert.ok((await docs.json()).paths['/api/triggers/{id}/feedback']);
  });
});
