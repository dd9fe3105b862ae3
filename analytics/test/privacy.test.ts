import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, grantedQos } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import { ownerReportSchema } from '../../protocol/owner-report.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import type { ManifestDevice } from '../backtest/manifest.ts';
import type { Analytics } from '../service.ts';
import { makeFleet, writeFleet, type FleetOptions } from './helpers/fleet.ts';
import { analyticsEnv, DAY, TOKEN, type AnalyticsEnv } from './helpers/setup.ts';
import { hook, ordinary, overloaded, range, until, writeWasher, type Hook, type WasherPlan } from '../../test/harness/washers.ts';

/**
 * Consent, purpose and erasure promises, end to end through the real InfluxDB, registry, LMDB
 * state, outbox, API, webhook receivers and an MQTT broker with its ACL: grounds re-read at
 * delivery, purpose-scoped consumers and webhooks, protective holds whatever the consent,
 * declines by offer type, replaced devices, consent history and the owner report.
 */
const END = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const SECRET = 'webhook-shared-secret-0123456789';
const fleetOpts: FleetOptions = { devices: 60, days: 90, endMs: END, seed: 42, prefix: 'r' };
const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

let env: AnalyticsEnv;
let gw: TestGateway;
let fleet: ManifestDevice[];
let analyticsSecret: string;

/**
 * Hand-drawn washers: [plan, owner, consent]. A collapse: a wash a day over the usage-collapse
 * rule's 56-day baseline, then one a week over its last 35 days (longer than any absence).
 */
const collapse = (errors?: number[]): Omit<WasherPlan, 'id'> => ({ cycles: [...ordinary(range(91, 36)), ...ordinary([31, 24, 17, 10, 3])], errors });
/** A second washer of the household, in use every other day from `from` days ago to the end: the family is at home. */
const atHome = (from: number): Array<[number, number]> => ordinary(range(from, 1).filter((d) => d % 2 === 1));
const WASHERS: Array<[WasherPlan, string, Array<'marketing' | 'service'>]> = [
  // grounds gone between fire and delivery
  [{ id: 'rc-consent', cycles: overloaded(40) }, 'rc-o1', ['marketing', 'service']],
  [{ id: 'rc-removed', cycles: overloaded(40) }, 'rc-o2', ['marketing', 'service']],
  [{ id: 'rc-owner', cycles: overloaded(40) }, 'rc-o3', ['marketing', 'service']],
  [{ id: 'rc-kept', cycles: overloaded(40) }, 'rc-o4', ['marketing', 'service']],
  // one of each purpose
  [{ id: 'pp-upsell', cycles: overloaded(40) }, 'pp-o1', ['marketing', 'service']],
  [{ id: 'pp-fault', cycles: ordinary(range(40, 1)), errors: [13, 12, 11, 10] }, 'pp-o2', ['marketing', 'service']],
  [{ id: 'pp-collapse', ...collapse() }, 'pp-o3', ['marketing', 'service']],
  // marketing consent only: overloaded and faulty, fading and faulty; and the same without faults
  [{ id: 'hd-over', cycles: overloaded(40), errors: [13, 12, 11, 10] }, 'mkt-only', ['marketing']],
  [{ id: 'hd-fade', ...collapse([9, 6, 5, 3]) }, 'mkt-only', ['marketing']],
  [{ id: 'hd-ctrl-over', cycles: overloaded(40) }, 'mkt-ctrl', ['marketing']],
  [{ id: 'hd-ctrl-fade', ...collapse() }, 'mkt-ctrl', ['marketing']],
  // overloaded until 21 days ago, then unplugged while the household washes on with its second
  // machine: replaced after a converted upgrade, or not
  [{ id: 'cv-old', cycles: overloaded(60, 21) }, 'cv-o1', ['marketing', 'service']],
  [{ id: 'cv-home', cycles: atHome(60) }, 'cv-o1', ['marketing', 'service']],
  [{ id: 'cv-ctrl', cycles: overloaded(60, 21) }, 'cv-o2', ['marketing', 'service']],
  [{ id: 'cv-ctrl-home', cycles: atHome(60) }, 'cv-o2', ['marketing', 'service']],
];

/** A fleet member of a persona, as the seeded draw placed them. */
const persona = (p: string) => fleet.filter((d) => d.persona === p);

before(async () => {
  env = await analyticsEnv();
  fleet = makeFleet(fleetOpts);
  // The decline case: one owner with an overloaded washer and a crowded fridge (both offer a model upgrade).
  const [fridge] = persona('fridge-crowded');
  const [washer] = persona('washer-overloader');
  assert.ok(fridge && washer && persona('fridge-crowded').length >= 2, 'the seeded fleet needs two crowded fridges and an overloaded washer');
  washer.owner = fridge.owner;
  await writeFleet(env.store, fleet, fleetOpts);
  await env.register(fleet);
  for (const [plan] of WASHERS) await writeWasher(env.store, plan, END);
  await env.registry.addDevices(WASHERS.map(([p, owner, consent]) => ({ id: p.id, kind: 'washer', model: 'WM-8', owner, consent })), { source: 'import', actor: 'test-import' });
  gw = await startTestGateway({ influxUrl: env.influxUrl });
  ({ secret: analyticsSecret } = await gw.gateway.registry.addConsumer('analytics', 'analytics'));
});
/** What a case opened, closed here too, so that a failed assertion cannot keep the file running. */
const opened: Array<{ stop(): Promise<unknown> }> = [];
const keep = <T>(x: T, stop: (x: T) => Promise<unknown>): T => {
  opened.push({ stop: () => stop(x) });
  return x;
};
after(async () => {
  for (const o of opened.reverse()) await o.stop().catch(() => undefined);
  await env?.stop();
  await gw?.stop();
});

/** An Analytics of its own state (so that each case starts from no triggers), delivering as told. */
function analytics(name: string, o: { delivery?: Record<string, unknown>; policy?: Record<string, unknown> } = {}): Analytics {
  const a = env.analytics({ analytics: { stateDir: join(env.dir, `state-${name}`), policy: o.policy, delivery: { mqtt: false, ...o.delivery } } });
  opened.push(a);
  return a;
}

const mqttDelivery = () => ({ mqtt: true, mqttUrl: gw.mqttUrl, mqttUsername: 'analytics', mqttPassword: analyticsSecret });

function collect(client: MqttClient): Trigger[] {
  const got: Trigger[] = [];
  client.on('message', (_topic, payload) => got.push(JSON.parse(payload.toString())));
  return got;
}

const ofDevice = (a: Analytics, id: string) => a.state.list({ limit: 10_000, deviceId: id }).items;

describe('grounds re-read at every delivery attempt', () => {
  test('consent withdrawn, device removed, owner changed between fire and delivery: webhook and MQTT get nothing, the outbox says why', async () => {
    const receiver = keep(await hook(), (x) => x.close());
    const tool = await gw.addConsumer('crm-all');
    const sub = keep(await connect(gw.mqttUrl, tool.id, tool.secret), close);
    const seen = collect(sub);
    await sub.subscribeAsync('triggers/#', { qos: 1 });
    const a = analytics('recheck', { delivery: { webhookUrl: receiver.url, webhookSecret: SECRET, ...mqttDelivery() } });
    await a.run({ asOfMs: END, ruleIds: ['washer-overloaded'] });
    const fired = new Map(['rc-consent', 'rc-removed', 'rc-owner', 'rc-kept'].map((id) => [id, ofDevice(a, id)[0]?.trigger]));
    for (const [id, t] of fired) assert.ok(t, `${id} must have fired`);

    // Between fire and delivery: the owner withdraws consent, a device is removed, another sold.
    await env.registry.setConsent('rc-consent', ['service'], { source: 'api', actor: 'test' });
    await env.registry.remove('rc-removed');
    await env.registry.setOwner('rc-owner', 'rc-o3-buyer');
    a.outbox.start();
    await until(() => a.state.outboxDepth() === 0, 30_000, 'the outbox to empty');
    await until(() => seen.some((t) => t.deviceId === 'rc-kept'), 10_000, 'the kept trigger on MQTT');

    const gotHook = new Set(receiver.received.map((r) => r.trigger.deviceId));
    const gotMqtt = new Set(seen.map((t) => t.deviceId));
    assert.ok(gotHook.has('rc-kept') && gotMqtt.has('rc-kept'), 'the trigger whose grounds hold is delivered');
    const why = { 'rc-consent': /^consent-withdrawn: the owner no longer consents to marketing/, 'rc-removed': /^device-removed: /, 'rc-owner': /^owner-changed: / };
    for (const [id, reason] of Object.entries(why)) {
      assert.ok(!gotHook.has(id), `${id} reached the webhook`);
      assert.ok(!gotMqtt.has(id), `${id} reached MQTT`);
      const rec = a.state.get(fired.get(id)!.id)!;
      for (const sink of ['webhook', 'mqtt', 'influx']) {
        assert.equal(rec.delivery[sink].state, 'dropped', `${id} ${sink}`);
        assert.match(rec.delivery[sink].lastError!, reason);
      }
    }
    // A trigger of a device no longer registered takes no feedback.
    const { api } = await a.start();
    const fb = await fetch(`http://127.0.0.1:${api}/api/triggers/${fired.get('rc-removed')!.id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'accepted' }) });
    assert.equal(fb.status, 404);
    assert.equal((await fb.json()).error.code, 'GW_ERR_NOT_FOUND');
    assert.deepEqual(a.state.get(fired.get('rc-removed')!.id)!.feedback, []);
    const metrics = await a.metrics.registry.metrics();
    for (const reason of ['consent-withdrawn', 'device-removed', 'owner-changed']) {
      assert.match(metrics, new RegExp(`ug_trigger_dropped_total\\{sink="webhook",reason="${reason}"\\} 1`));
    }
    await close(sub);
    await a.stop();
    await receiver.close();
  });
});

describe('consumers receive only their purposes', () => {
  test('a marketing-only consumer gets upsell and retention and never service, a service consumer the reverse; each refused at SUBSCRIBE for the other; one webhook per purpose', async () => {
    const mkt = await gw.addConsumer('mkt-tool', { purposes: ['marketing'] });
    const svc = await gw.addConsumer('svc-tool', { purposes: ['service'] });
    const mc = keep(await connect(gw.mqttUrl, mkt.id, mkt.secret), close);
    const sc = keep(await connect(gw.mqttUrl, svc.id, svc.secret), close);
    assert.deepEqual(await grantedQos(mc, ['triggers/upsell/#', 'triggers/retention/#', 'triggers/service/#', 'triggers/#']), [1, 1, 128, 128]);
    assert.deepEqual(await grantedQos(sc, ['triggers/service/#', 'triggers/upsell/#', 'triggers/retention/#', 'triggers/#']), [1, 128, 128, 128]);
    const toMkt = collect(mc);
    const toSvc = collect(sc);
    const hookM = keep(await hook(), (x) => x.close());
    const hookS = keep(await hook(), (x) => x.close());
    const a = analytics('purposes', { delivery: {
      webhookMarketingUrl: `${hookM.url}/marketing`, webhookMarketingSecret: SECRET, webhookServiceUrl: `${hookS.url}/service`, webhookServiceSecret: SECRET,
      sensitiveToAutomated: true, ...mqttDelivery(),
    } });
    await a.run({ asOfMs: END, ruleIds: ['washer-overloaded', 'recurring-error', 'usage-collapse'] });
    const byDevice = (id: string) => ofDevice(a, id)[0]?.trigger;
    const [up, fault, fade] = ['pp-upsell', 'pp-fault', 'pp-collapse'].map(byDevice);
    assert.equal(up?.category, 'upsell');
    assert.equal(fault?.category, 'service');
    assert.equal(fade?.category, 'retention');
    a.outbox.start();
    await until(() => a.state.outboxDepth() === 0, 30_000, 'the outbox to empty');
    await until(() => [up, fade].every((t) => toMkt.some((x) => x.id === t.id)) && toSvc.some((x) => x.id === fault.id), 10_000, 'MQTT deliveries');

    assert.ok(toMkt.length > 0 && toMkt.every((t) => t.purpose === 'marketing'), `marketing consumer got ${toMkt.map((t) => t.category).join(',')}`);
    assert.ok(toSvc.length > 0 && toSvc.every((t) => t.category === 'service'), `service consumer got ${toSvc.map((t) => t.category).join(',')}`);
    assert.ok(hookM.received.every((r) => r.path === '/marketing' && r.trigger.purpose === 'marketing'));
    assert.ok(hookS.received.every((r) => r.path === '/service' && r.trigger.purpose === 'service'));
    assert.ok(hookM.received.some((r) => r.trigger.id === up.id) && hookM.received.some((r) => r.trigger.id === fade.id));
    assert.ok(hookS.received.some((r) => r.trigger.id === fault.id));

    // By default a sensitive inference goes to people (inbox, API), to no automated channel.
    const b = analytics('purposes-default', { delivery: { webhookUrl: hookM.url, webhookSecret: SECRET, ...mqttDelivery() } });
    assert.deepEqual(b.sinksFor(fade), ['influx']);
    assert.deepEqual(b.sinksFor(up), ['webhook', 'mqtt', 'influx']);
    await close(mc);
    await close(sc);
    await a.stop();
    await hookM.close();
    await hookS.close();
  });
});

describe('protective holds, declines and replaced devices', () => {
  test('marketing consent only, overloaded and faulty: no upsell and no retention call while the fault is open; the holds are in the owner report', async () => {
    const a = analytics('holds', { policy: { frequencyCapMax: 0 } });
    const run = await a.run({ asOfMs: END, ruleIds: ['recurring-error', 'washer-overloaded', 'usage-collapse'] });
    // Without faults, the same patterns of the same consent fire: the rules themselves are not what held back.
    assert.equal(ofDevice(a, 'hd-ctrl-over')[0]?.trigger.ruleId, 'washer-overloaded');
    assert.equal(ofDevice(a, 'hd-ctrl-fade')[0]?.trigger.ruleId, 'usage-collapse');
    // The faulty ones: nothing stored, nothing shown, nothing delivered (no service consent for the fault).
    for (const id of ['hd-over', 'hd-fade']) assert.deepEqual(ofDevice(a, id), [], `${id} got a trigger`);
    assert.ok((run.suppressed['service-open'] ?? 0) >= 2, JSON.stringify(run.suppressed));
    const holds = a.state.holdsOfOwner('mkt-only');
    const find = (device: string, kind: string, rule: string) => holds.find((x) => x.deviceId === device && x.kind === kind && x.ruleId === rule);
    assert.equal(find('hd-over', 'fault', 'recurring-error')?.reason, 'no-consent');
    assert.equal(find('hd-fade', 'fault', 'recurring-error')?.reason, 'no-consent');
    assert.equal(find('hd-over', 'held-back', 'washer-overloaded')?.reason, 'service-open');
    assert.equal(find('hd-fade', 'held-back', 'usage-collapse')?.reason, 'service-open');

    // The hold outlives the run: a later run of the marketing rules alone still holds back.
    const later = await a.run({ asOfMs: END + DAY, ruleIds: ['washer-overloaded'] });
    assert.ok((later.suppressed['service-open'] ?? 0) >= 1);
    assert.deepEqual(ofDevice(a, 'hd-over'), []);

    const { api } = await a.start();
    const report = ownerReportSchema.parse(await (await fetch(`http://127.0.0.1:${api}/api/owners/mkt-only/report`, { headers: h })).json());
    assert.deepEqual(report.triggers, []);
    assert.deepEqual(report.devices.map((d) => d.id).sort(), ['hd-fade', 'hd-over']);
    assert.ok(report.held.some((x) => x.deviceId === 'hd-over' && x.kind === 'fault' && /without service consent/.test(x.detail)));
    assert.ok(report.held.some((x) => x.deviceId === 'hd-over' && x.ruleId === 'washer-overloaded' && /fault is open/.test(x.detail)));
    assert.ok(report.held.some((x) => x.deviceId === 'hd-fade' && x.ruleId === 'usage-collapse' && x.reason === 'service-open'));
    const list = await (await fetch(`http://127.0.0.1:${api}/api/triggers?device=hd-over`, { headers: h })).json();
    assert.deepEqual(list.items, [], 'the fault is not shown in the inbox or API');
    await a.stop();
  });

  test('a declined upgrade suppresses another rule\'s upgrade for the same owner; a converted upgrade is followed by no check-in call for the old device', async () => {
    const [fridge, otherFridge] = persona('fridge-crowded');
    const [washer] = persona('washer-overloader');
    const a = analytics('declines', { policy: { frequencyCapMax: 0 } });
    await a.run({ asOfMs: END, ruleIds: ['washer-overloaded'] });
    const offer = ofDevice(a, washer.id)[0]?.trigger;
    assert.equal(offer?.offer.type, 'model-upgrade');
    const { api } = await a.start();
    const post = (id: string, body: unknown) => fetch(`http://127.0.0.1:${api}/api/triggers/${id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify(body) });
    // A client may not date its feedback: a body with "at" is refused and nothing is stored …
    const dated = await post(offer.id, { outcome: 'declined', at: new Date(END - 400 * DAY).toISOString() });
    assert.equal(dated.status, 400);
    assert.equal((await dated.json()).error.code, 'GW_ERR_BAD_REQUEST');
    assert.deepEqual(a.state.get(offer.id)!.feedback, []);
    // … and without it the decline holds from when the server received it.
    const declined = await post(offer.id, { outcome: 'declined' });
    assert.equal(declined.status, 201);
    const fb = (await declined.json()).feedback[0];
    assert.ok(Date.parse(fb.at) > END, `feedback time ${fb.at} is not the server's`);
    const run = await a.run({ asOfMs: END, ruleIds: ['fridge-crowded'] });
    assert.deepEqual(ofDevice(a, fridge.id), [], 'the crowded fridge of the owner who declined an upgrade was offered one');
    assert.equal(ofDevice(a, otherFridge.id)[0]?.trigger.ruleId, 'fridge-crowded', 'another owner\'s crowded fridge gets its offer');
    assert.ok((run.suppressed.declined ?? 0) >= 1);
    assert.equal(a.state.holdsOfDevice(fridge.id).find((x) => x.ruleId === 'fridge-crowded')?.reason, 'declined');
    await a.stop();

    const b = analytics('converted', { policy: { frequencyCapMax: 0 } });
    await b.run({ asOfMs: END - 20 * DAY, ruleIds: ['washer-overloaded'] });
    const upgrade = ofDevice(b, 'cv-old')[0]?.trigger;
    assert.equal(upgrade?.offer.type, 'model-upgrade');
    const { api: api2 } = await b.start();
    const res = await fetch(`http://127.0.0.1:${api2}/api/triggers/${upgrade.id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'converted' }) });
    assert.equal(res.status, 201);
    const silent = await b.run({ asOfMs: END, ruleIds: ['device-silent'] });
    assert.equal(ofDevice(b, 'cv-ctrl').find((r) => r.trigger.ruleId === 'device-silent')?.trigger.offer.type, 'retention-check-in', 'the washer that was not replaced gets its check-in');
    assert.ok(!ofDevice(b, 'cv-old').some((r) => r.trigger.ruleId === 'device-silent'), 'a check-in call for the washer that was replaced');
    assert.ok((silent.suppressed.replaced ?? 0) >= 1);
    await b.stop();
  });
});

describe('consent history and the owner report', () => {
  test('every consent change is kept with source and actor; the report lists every trigger, hold and consent change of each owner, and validates', async () => {
    const a = analytics('report', { policy: { frequencyCapMax: 1 } });
    const { api } = await a.start();
    const base = `http://127.0.0.1:${api}`;
    // Consent changes from the API (the token's identity is recorded) and from an operator.
    const d0 = fleet[0];
    const put = await fetch(`${base}/api/devices/${d0.id}/consent`, { method: 'PUT', headers: h, body: JSON.stringify({ consent: ['service', 'analytics'] }) });
    assert.equal(put.status, 200);
    await env.registry.setConsent(d0.id, ['marketing', 'service'], { source: 'cli', actor: 'operator-1' });
    const history = (await (await fetch(`${base}/api/devices/${d0.id}/consent/history`, { headers: h })).json()).history;
    assert.deepEqual(history.map((x: { source: string }) => x.source), ['import', 'api', 'cli']);
    assert.match(history[1].actor, /^token:[0-9a-f]{12}$/);
    assert.deepEqual(history[1].consent, ['service', 'analytics']);
    assert.equal(history[2].actor, 'operator-1');

    await a.run({ asOfMs: END });
    const owners = [...new Set(fleet.map((d) => d.owner))];
    let triggers = 0;
    let held = 0;
    for (const owner of owners) {
      const res = await fetch(`${base}/api/owners/${owner}/report`, { headers: h });
      assert.equal(res.status, 200);
      const report = ownerReportSchema.parse(await res.json());
      const stored = a.state.list({ limit: 10_000, owner }).items;
      assert.deepEqual(report.triggers.map((t) => t.id).sort(), stored.map((r) => r.trigger.id).sort(), `${owner}: triggers`);
      assert.equal(report.held.length, a.state.holdsOfOwner(owner).length, `${owner}: holds`);
      const changes = env.registry.devices().flatMap((d) => (d.consentHistory ?? []).filter((c) => c.owner === owner));
      assert.equal(report.consentHistory.length, changes.length, `${owner}: consent changes`);
      for (const t of report.triggers) {
        assert.ok(t.explanation.startsWith(t.evidence.summary), 'the evidence in words');
        assert.equal(t.sensitive, t.category === 'retention');
      }
      for (const d of report.devices) {
        const cycles = d.data.find((m) => m.measurement === (d.kind === 'washer' ? 'washer_cycle' : d.kind === 'fridge' ? 'fridge_state' : 'car_trip'));
        assert.ok(cycles && cycles.points > 0 && cycles.from && cycles.to, `${d.id}: its readings are counted`);
      }
      triggers += report.triggers.length;
      held += report.held.length;
    }
    assert.ok(triggers >= 10 && held >= 1, `a seeded fleet gives triggers (${triggers}) and holds (${held})`);
    const unknown = await fetch(`${base}/api/owners/nobody-at-all/report`, { headers: h });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error.code, 'GW_ERR_NOT_FOUND');

    // The same report from the command line, as JSON and in words.
    const owner = owners.find((o) => a.state.list({ limit: 1, owner: o }).items.length > 0)!;
    const cliEnv = { UG_CONFIG: '', UG_DATA_DIR: env.dir, UG_INFLUX_URL: env.influxUrl, UG_INFLUX_DATABASE: env.database, UG_INFLUX_ROLLUPS: 'false', UG_ANALYTICS_STATE_DIR: join(env.dir, 'state-report'), UG_LOG_LEVEL: 'warn' };
    const [asJson, asText] = await Promise.all([runCli(['owners', 'report', owner, '--json'], cliEnv), runCli(['owners', 'report', owner], cliEnv)]);
    assert.equal(asJson.code, 0, asJson.stderr);
    const fromCli = ownerReportSchema.parse(JSON.parse(asJson.stdout));
    assert.deepEqual(fromCli.triggers.map((t) => t.id).sort(), a.state.list({ limit: 10_000, owner }).items.map((r) => r.trigger.id).sort());
    assert.equal(asText.code, 0, asText.stderr);
    assert.match(asText.stdout, new RegExp(`^What is held about owner ${owner}`));
    assert.match(asText.stdout, /What was inferred \(\d+ triggers?\)/);
    for (const t of fromCli.triggers) assert.ok(asText.stdout.includes(t.evidence.summary), 'every trigger is explained in words');
    assert.match(asText.stdout, /Consent changes \(\d+\)/);
    await a.stop();
  });
});
