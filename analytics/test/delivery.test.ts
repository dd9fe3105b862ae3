import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect } from '../../test/harness/mqtt.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { triggerId, type Trigger } from '../../protocol/trigger.ts';
import { webhookSink } from '../delivery/webhook.ts';
import { makeFleet, writeFleet, type FleetOptions } from './helpers/fleet.ts';
import { analyticsEnv, DAY, type AnalyticsEnv } from './helpers/setup.ts';

const END = Math.floor(Date.now() / DAY) * DAY - DAY;
const opts: FleetOptions = { devices: 45, days: 90, endMs: END, seed: 11, prefix: 'w' };
const SECRET = 'webhook-shared-secret-0123456789';

interface Receiver {
  url: string;
  server: Server;
  /** Idempotency keys answered with 2xx, with how often. */
  accepted: Map<string, number>;
  failures: { http500: number; timeouts: number };
  badSignatures: number;
  requests: number;
}

/** The oldest delivery a receiver takes, as docs/triggers.md advises. */
const MAX_AGE_S = 300;

/**
 * A receiver's check, written from docs/triggers.md ("Webhook signatures") and not from our
 * signing code: HMAC-SHA256 of "<X-UG-Timestamp>.<raw body>", compared in constant time, and a
 * timestamp at most MAX_AGE_S from the receiver's clock.
 */
function verifyWebhook(secret: string, headers: IncomingHttpHeaders, raw: Buffer, nowS: number): 'ok' | 'bad-signature' | 'stale' {
  const ts = String(headers['x-ug-timestamp'] ?? '');
  if (!/^\d{1,12}$/.test(ts)) return 'bad-signature';
  const want = Buffer.from(`v1=${createHmac('sha256', secret).update(`${ts}.`).update(raw).digest('hex')}`);
  const got = Buffer.from(String(headers['x-signature'] ?? ''));
  if (got.length !== want.length || !timingSafeEqual(got, want)) return 'bad-signature';
  if (Math.abs(nowS - Number(ts)) > MAX_AGE_S) return 'stale';
  return 'ok';
}

const nowS = () => Math.floor(Date.now() / 1000);

const readBody = (req: IncomingMessage) => new Promise<Buffer>((res) => {
  const parts: Buffer[] = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => res(Buffer.concat(parts)));
});

/** A webhook receiver that answers 500 for a while, then lets requests hang, then accepts. */
async function receiver(plan: { fail500: number; hang: number }): Promise<Receiver> {
  const r: Receiver = { url: '', server: undefined as never, accepted: new Map(), failures: { http500: 0, timeouts: 0 }, badSignatures: 0, requests: 0 };
  r.server = createServer(async (req, res) => {
    const raw = await readBody(req);
    const n = ++r.requests;
    if (verifyWebhook(SECRET, req.headers, raw, nowS()) !== 'ok') r.badSignatures++;
    if (n <= plan.fail500) {
      r.failures.http500++;
      return res.writeHead(500).end('down for maintenance');
    }
    if (n <= plan.fail500 + plan.hang) {
      r.failures.timeouts++;
      setTimeout(() => res.destroy(), 1_500); // never answers in time, never processes
      return;
    }
    const key = String(req.headers['idempotency-key']);
    assert.equal(JSON.parse(raw.toString()).id, key);
    r.accepted.set(key, (r.accepted.get(key) ?? 0) + 1);
    res.writeHead(r.accepted.get(key)! > 1 ? 200 : 201, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((res) => r.server.listen(0, '127.0.0.1', res));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}/hooks/triggers`;
  return r;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let env: AnalyticsEnv;
let gw: TestGateway;

before(async () => {
  env = await analyticsEnv();
  const fleet = makeFleet(opts);
  await writeFleet(env.store, fleet, opts);
  await env.register(fleet);
  gw = await startTestGateway({ influxUrl: env.influxUrl });
});
after(async () => {
  await env?.stop();
  await gw?.stop();
});

describe('delivery through the outbox', () => {
  test('a failing webhook gets every trigger once per idempotency key after it recovers; MQTT and InfluxDB get them too', async () => {
    const hook = await receiver({ fail500: 12, hang: 6 });
    const { secret } = await gw.gateway.registry.addConsumer('analytics', 'analytics');
    const tool = await gw.addConsumer('marketing-tool');
    const sub = await connect(gw.mqttUrl, tool.id, tool.secret);
    const seen = new Map<string, string>();
    sub.on('message', (topic, payload) => seen.set(JSON.parse(payload.toString()).id, topic));
    await sub.subscribeAsync('triggers/#', { qos: 1 });

    const a = env.analytics({ analytics: { delivery: {
      webhookUrl: hook.url, webhookSecret: SECRET, webhookTimeoutMs: 300, mqtt: true, mqttUrl: gw.mqttUrl, mqttUsername: 'analytics', mqttPassword: secret,
      retryMinMs: 20, retryMaxMs: 200, deadlineMs: 60_000, sensitiveToAutomated: true,
    } } });
    const run = await a.run({ asOfMs: END });
    assert.ok(run.fired >= 5, `expected triggers, got ${run.fired}`);
    const ids = a.state.list({ limit: 1000 }).items.map((r) => r.trigger);
    a.outbox.start();
    await until(() => hook.accepted.size === ids.length && seen.size === ids.length, 60_000, 'webhook and MQTT deliveries');
    await until(() => a.state.outboxDepth() === 0, 10_000, 'an empty outbox');

    assert.ok(hook.failures.http500 === 12 && hook.failures.timeouts === 6, `the receiver must have failed first: ${JSON.stringify(hook.failures)}`);
    assert.equal(hook.badSignatures, 0, 'every request, retries included, must carry a valid, recent signature');
    for (const t of ids) {
      assert.equal(hook.accepted.get(t.id), 1, `trigger ${t.id} accepted ${hook.accepted.get(t.id)} times`);
      assert.equal(seen.get(t.id), `triggers/${t.category}/${t.ruleId}`);
      const rec = a.state.get(t.id)!;
      assert.equal(rec.delivery.webhook.state, 'delivered');
      assert.equal(rec.delivery.mqtt.state, 'delivered');
      assert.equal(rec.delivery.influx.state, 'delivered');
    }
    assert.equal(await countPoints(env, 'trigger'), ids.length);
    await sub.endAsync();
    await a.stop();
    hook.server.close();
  });

  test('a webhook that never recovers is dead-lettered after the deadline', async () => {
    const hook = await receiver({ fail500: 1e9, hang: 0 });
    const a = env.analytics({ analytics: { delivery: { webhookUrl: hook.url, webhookSecret: SECRET, retryMinMs: 20, retryMaxMs: 100, deadlineMs: 1_000, influx: false, sensitiveToAutomated: true } } });
    await a.open();
    for (const r of a.rules) r.cooldownDays = 0;
    const run = await a.run({ asOfMs: END + 7 * DAY });
    assert.ok(run.fired > 0);
    a.outbox.start();
    await until(() => a.state.outboxDepth() === 0, 20_000, 'every delivery to end');
    const dead = a.state.deadLetters().filter((d) => d.sink === 'webhook');
    assert.equal(dead.length, run.fired);
    assert.match(dead[0].reason, /still failing after \d+ s: HTTP 500/);
    assert.ok(dead.every((d) => d.attempts > 1));
    await a.stop();
    hook.server.close();
  });
});

describe('webhook signatures', () => {
  test('each delivery is signed with its time: a receiver refuses it replayed with another timestamp, another body, or too late', async () => {
    const got: Array<{ headers: IncomingHttpHeaders; raw: Buffer; verdict: string }> = [];
    /** The receiver's clock, moved ahead to see a captured delivery arrive late. */
    let clockAheadS = 0;
    const server = createServer(async (req, res) => {
      const raw = await readBody(req);
      const verdict = verifyWebhook(SECRET, req.headers, raw, nowS() + clockAheadS);
      got.push({ headers: req.headers, raw, verdict });
      res.writeHead(verdict === 'ok' ? 204 : 401).end();
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/triggers`;

    const t = sampleTrigger();
    const sink = webhookSink(url, SECRET, 5_000);
    assert.deepEqual(await sink.deliverTrigger(t), { ok: true });
    assert.equal(got.length, 1);
    const [first] = got;
    assert.equal(first.verdict, 'ok');
    assert.equal(JSON.parse(first.raw.toString()).id, t.id);
    assert.match(String(first.headers['x-ug-timestamp']), /^\d{10}$/);
    assert.match(String(first.headers['x-signature']), /^v1=[0-9a-f]{64}$/);

    // What someone who captured the delivery can send again.
    const ts = Number(first.headers['x-ug-timestamp']);
    const replay = async (headers: Record<string, string>, body = first.raw.toString()) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      return { status: res.status, verdict: got.at(-1)!.verdict };
    };
    const signature = String(first.headers['x-signature']);
    // As captured, within the window: the signature holds (the receiver de-duplicates on Idempotency-Key).
    assert.deepEqual(await replay({ 'x-ug-timestamp': String(ts), 'x-signature': signature }), { status: 204, verdict: 'ok' });
    // A changed timestamp, a later one to pass the age check or an earlier one, breaks the signature.
    for (const other of [ts + 1, ts + 3_600, ts - 1]) {
      assert.deepEqual(await replay({ 'x-ug-timestamp': String(other), 'x-signature': signature }), { status: 401, verdict: 'bad-signature' }, `timestamp ${other}`);
    }
    assert.deepEqual(await replay({ 'x-signature': signature }), { status: 401, verdict: 'bad-signature' });
    const tampered = first.raw.toString().replace(t.offer.target!, 'WM-12');
    assert.notEqual(tampered, first.raw.toString());
    assert.deepEqual(await replay({ 'x-ug-timestamp': String(ts), 'x-signature': signature }, tampered), { status: 401, verdict: 'bad-signature' });
    // The same capture five minutes and a second later: the signature holds, the age does not.
    clockAheadS = MAX_AGE_S + 1;
    assert.deepEqual(await replay({ 'x-ug-timestamp': String(ts), 'x-signature': signature }), { status: 401, verdict: 'stale' });
    // Our own attempts are signed when they are sent, so a retry is never stale; a receiver whose
    // clock is off by more than the window refuses them all, and its 401 is final for the outbox.
    assert.deepEqual(await sink.deliverTrigger(t), { ok: false, retry: false, error: 'HTTP 401', retryAfterMs: undefined });
    assert.equal(got.at(-1)!.verdict, 'stale');
    clockAheadS = 0;
    assert.deepEqual(await sink.deliverTrigger(t), { ok: true });
    server.close();
  });
});

function sampleTrigger(): Trigger {
  const from = new Date(END - 28 * DAY).toISOString();
  const to = new Date(END).toISOString();
  return {
    id: triggerId('washer-overloaded', 1, 'w-sig-1', from, to), ruleId: 'washer-overloaded', ruleVersion: 1, category: 'upsell', purpose: 'marketing',
    deviceId: 'w-sig-1', kind: 'washer', model: 'WM-7', owner: 'cust-sig-1', offer: { type: 'model-upgrade', target: 'WM-9' },
    evidence: { summary: '14 of 20 cycles above 7 kg', window: { from, to }, figures: { overload_share: 0.7 }, thresholds: { overload_share: 0.3 } },
    createdAt: to,
  };
}

async function countPoints(e: AnalyticsEnv, m: string): Promise<number> {
  const rows = await e.store.query<Record<string, number>>(`SELECT count("trigger_id") FROM "${m}"`);
  return rows.length ? Number(rows[0].count) : 0;
}
