import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect } from '../../test/harness/mqtt.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { signBody } from '../delivery/webhook.ts';
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

/** A webhook receiver that answers 500 for a while, then lets requests hang, then accepts. */
async function receiver(plan: { fail500: number; hang: number }): Promise<Receiver> {
  const r: Receiver = { url: '', server: undefined as never, accepted: new Map(), failures: { http500: 0, timeouts: 0 }, badSignatures: 0, requests: 0 };
  const body = (req: IncomingMessage) => new Promise<Buffer>((res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => res(Buffer.concat(parts)));
  });
  r.server = createServer(async (req, res) => {
    const raw = await body(req);
    const n = ++r.requests;
    if (req.headers['x-signature'] !== signBody(SECRET, raw)) r.badSignatures++;
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
    assert.equal(hook.badSignatures, 0, 'every request must carry a valid X-Signature');
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

async function countPoints(e: AnalyticsEnv, m: string): Promise<number> {
  const rows = await e.store.query<Record<string, number>>(`SELECT count("trigger_id") FROM "${m}"`);
  return rows.length ? Number(rows[0].count) : 0;
}
