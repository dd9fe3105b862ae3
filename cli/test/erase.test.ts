import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { buildApiApp } from '../../analytics/api/app.ts';
import { createAnalytics, type Analytics } from '../../analytics/service.ts';
import { loadConfig } from '../../config/load.ts';
import { listDeadLetters } from '../../gateway/deadletter/index.ts';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import { hook, overloaded, writeWasher, type Hook } from '../../test/harness/washers.ts';

/**
 * `usage-gateway devices erase <id>` against a running gateway: afterwards no point of the
 * device is left in any measurement (raw, roll-ups, triggers), nor its dead-letter entries
 * nor its registry entry; the other devices keep everything.
 */

describe('devices erase against a running gateway', () => {
  let gw: TestGateway;
  let gone: TestDevice;
  let kept: TestDevice;
  let configFile: string;

  async function feed(d: TestDevice): Promise<void> {
    const c = await connect(gw.mqttUrl, d.id, d.secret);
    const now = Date.now();
    const cycles = Array.from({ length: 5 }, (_, i) => washerCycle({ ts: now - (i + 1) * 3_600_000, seq: i }));
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(cycles), { qos: 1 });
    await c.publishAsync(`devices/${d.id}/events`, JSON.stringify({ type: 'error', code: 'E21', severity: 'warning' }), { qos: 1 });
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify({ type: 'cycle', load_kg: 'heavy' }), { qos: 1 });
    await close(c);
  }

  before(async () => {
    gw = await startTestGateway();
    gone = await gw.addDevice({ kind: 'washer', id: 'erase-me' });
    kept = await gw.addDevice({ kind: 'washer', id: 'keep-me' });
    await feed(gone);
    await feed(kept);
    await gw.waitForCount('washer_cycle', 10);
    await gw.waitForCount('device_event', 2);
    // A trigger point as analytics stores it, and the roll-ups of the hours above.
    const now = Date.now();
    for (const id of [gone.id, kept.id]) {
      const res = await gw.store.write(`trigger,category=upsell,device_id=${id},kind=washer,model=WM-8,rule_id=washer-overload trigger_id="t-${id}",rule_version=1i,owner="o",offer="model-upgrade",summary="s" ${now - 60_000}000000`);
      assert.ok(res.ok);
    }
    await gw.store.backfillRollups(now - 8 * 3_600_000, now);
    configFile = join(gw.dir, 'cli.yaml');
    const c = gw.config;
    await writeFile(configFile, stringify({
      dataDir: gw.dir, registry: { path: c.registry.path }, deadletter: { dir: c.deadletter.dir },
      influx: { url: c.influx.url, database: c.influx.database }, log: { level: 'silent' },
    }));
  });
  after(async () => {
    await gw?.stop();
  });

  it('before: the device has points in raw data, roll-ups and triggers, and dead-letter entries', async () => {
    const points = await gw.store.devicePoints(gone.id);
    assert.equal(points['raw.washer_cycle'], 5);
    assert.equal(points['raw.device_event'], 1);
    assert.equal(points['raw.trigger'], 1);
    assert.ok(points['rollup.washer_cycle_1h'] >= 1 && points['rollup.washer_cycle_1d'] >= 1);
    assert.equal((await listDeadLetters(gw.config.deadletter.dir, { deviceId: gone.id })).length, 1);
  });

  it('erase without --yes refuses and changes nothing', async () => {
    const r = await runCli(['-c', configFile, 'devices', 'erase', gone.id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GW_ERR_USAGE: .*--yes/);
    assert.ok(gw.gateway.registry.get(gone.id));
  });

  it('an id that breaks the id rule is refused before anything is erased: the series without a device_id tag stay', async () => {
    // The gateway's own figures carry no device_id: `WHERE "device_id" = ''` would select them.
    const now = Date.now();
    assert.ok((await gw.store.write(`gateway_stats,instance=erase-test probe=1i ${now - 30_000}000000`)).ok);
    const untagged = async () => (await gw.query<{ count: number }>(`SELECT count(probe) FROM gateway_stats WHERE instance = 'erase-test'`))[0]?.count;
    assert.equal(await untagged(), 1);
    const runs = await Promise.all(['', 'a\nb', '.', '..', '-x', "x' OR ''='"].map((id) => runCli(['-c', configFile, 'devices', 'erase', '--yes', '--url', gw.httpUrl, '--', id])));
    for (const r of runs) {
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error GW_ERR_INVALID_ARGUMENT: ".*" is not a valid id: expected 1 to 64 letters/);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
      assert.doesNotMatch(r.stderr, /dropped|removed/, 'nothing was erased');
      assert.equal(r.stdout, '');
    }
    assert.equal(await untagged(), 1, 'the untagged series is still there');
    assert.ok(gw.gateway.registry.get(gone.id));
    assert.equal((await gw.store.devicePoints(kept.id))['raw.washer_cycle'], 5);
    await assert.rejects(gw.store.eraseDevice(''), { code: 'GW_ERR_INVALID_ARGUMENT' });
    assert.equal(await untagged(), 1);
  });

  it('InfluxQL strings are quoted whatever they hold: quotes, backslashes and newlines', async () => {
    assert.ok((await gw.store.write(`esc_probe,device_id=it's\\ a\\,b v=1i ${Date.now() - 10_000}000000`)).ok);
    assert.deepEqual(await gw.store.devicePoints("it's a,b"), { 'raw.esc_probe': 1 });
    // A raw newline, or a backslash before the closing quote, would end the statement with "bad string".
    for (const id of ['a\nb', 'a\\', "a\\'", '"']) assert.deepEqual(await gw.store.devicePoints(id), {}, JSON.stringify(id));
  });

  it('devices erase leaves no point of that device in any measurement', async () => {
    const r = await runCli(['-c', configFile, 'devices', 'erase', gone.id, '--yes', '--url', gw.httpUrl]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.registryRemoved, true);
    assert.equal(report.spool, 'drained');
    assert.equal(report.deadLetters, 1);
    assert.equal(report.influx.points['raw.washer_cycle'], 5);
    assert.match(r.stderr, /dropped \d+ series/);

    assert.deepEqual(await gw.store.devicePoints(gone.id), {});
    const measurements = (await gw.query<{ name: string }>('SHOW MEASUREMENTS')).map((m) => m.name);
    for (const rp of ['raw', 'rollup']) {
      for (const m of measurements) {
        const rows = await gw.query(`SELECT count(*) FROM "${rp}"."${m}" WHERE "device_id" = '${gone.id}'`);
        assert.equal(rows.length, 0, `${rp}.${m} still holds points of ${gone.id}`);
      }
    }
    assert.deepEqual(await listDeadLetters(gw.config.deadletter.dir, { deviceId: gone.id }), []);
    assert.equal(gw.gateway.registry.get(gone.id) ?? undefined, undefined);
    await gw.gateway.registry.refresh();
    assert.equal(gw.gateway.registry.get(gone.id), undefined, 'the running gateway no longer knows the device');
  });

  it('the other device keeps all its data', async () => {
    const points = await gw.store.devicePoints(kept.id);
    assert.equal(points['raw.washer_cycle'], 5);
    assert.equal(points['raw.trigger'], 1);
    assert.ok(points['rollup.washer_cycle_1h'] >= 1);
    assert.equal((await listDeadLetters(gw.config.deadletter.dir, { deviceId: kept.id })).length, 1);
  });

  it('the erased device can no longer connect, and erasing it again is harmless', async () => {
    await assert.rejects(connect(gw.mqttUrl, gone.id, gone.secret));
    const r = await runCli(['-c', configFile, 'devices', 'erase', gone.id, '--yes', '--url', gw.httpUrl]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not in the registry/);
    assert.deepEqual(JSON.parse(r.stdout).influx.points, {});
  });
});

/**
 * `devices erase` and `owners erase` against a running gateway and a running analytics service
 * (another process, sharing the analytics state): afterwards nothing in InfluxDB, the dead-letter
 * store, the registry, the analytics state, the outbox or the API answers holds the device or
 * the owner, including a delivery that was pending at the erasure and feedback posted after it.
 */

describe('devices erase and owners erase with the analytics service running', () => {
  const DAY = 86_400_000;
  const END = Math.floor(Date.now() / DAY) * DAY - DAY;
  const TOKEN = 'erase-test-token-0123456789';
  const SECRET = 'webhook-shared-secret-0123456789';

  let gw: TestGateway;
  let a: Analytics;
  let api: FastifyInstance;
  let base: string;
  let receiver: Hook;
  let configFile: string;
  const devices: Record<string, TestDevice> = {};
  const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

  /** One refused reading through the broker: a dead-letter entry with the device's raw payload. */
  async function refusedReading(d: TestDevice): Promise<void> {
    const c = await connect(gw.mqttUrl, d.id, d.secret);
    await c.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    const notice = nextMessage(c, `devices/${d.id}/rejected`);
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ spin_rpm: 9000 })), { qos: 1 });
    await notice;
    await close(c);
  }

  /** Every string stored anywhere a person or a tool could read it back, for one id. */
  async function traces(id: string): Promise<string[]> {
    const found: string[] = [];
    for (const m of (await gw.query<{ name: string }>('SHOW MEASUREMENTS')).map((x) => x.name)) {
      for (const rp of ['raw', 'rollup']) {
        const rows = await gw.query(`SELECT * FROM "${rp}"."${m}"`).catch(() => []);
        if (JSON.stringify(rows).includes(id)) found.push(`influx ${rp}.${m}`);
      }
    }
    if (JSON.stringify(await gw.query('SHOW SERIES')).includes(id)) found.push('influx series');
    for (const f of await readdir(gw.config.deadletter.dir).catch(() => [] as string[])) {
      if ((await readFile(join(gw.config.deadletter.dir, f), 'utf8')).includes(id)) found.push(`dead-letter file ${f}`);
    }
    if ((await readFile(gw.config.registry.path, 'utf8')).includes(id)) found.push('registry file');
    const state = [...a.state.list({ limit: 100_000 }).items, ...a.state.deadLetters(), ...a.state.holdsOfOwner(id)];
    if (JSON.stringify(state).includes(id)) found.push('analytics state');
    for (const path of ['/api/triggers?limit=500', `/api/triggers?device=${id}`, `/api/triggers?owner=${id}`]) {
      if (JSON.stringify(await (await fetch(`${base}${path}`, { headers: h })).json()).includes(id)) found.push(`API ${path}`);
    }
    return found;
  }

  before(async () => {
    gw = await startTestGateway();
    for (const [id, owner] of [['er-gone', 'er-owner-a'], ['er-kept', 'er-owner-k'], ['ow-1', 'er-owner-b'], ['ow-2', 'er-owner-b'], ['ow-sold', 'er-owner-b']]) {
      devices[id] = await gw.addDevice({ id, kind: 'washer', model: 'WM-8', owner, consent: ['marketing', 'service'] });
      // Overloaded for 40 days; the first two report a recurring fault in the last days.
      await writeWasher(gw.store, { id, cycles: overloaded(40), errors: ['er-gone', 'er-kept', 'ow-1'].includes(id) ? [4, 3, 2] : [] }, END);
    }
    await refusedReading(devices['er-gone']);
    await refusedReading(devices['er-kept']);
    await refusedReading(devices['ow-1']);
    receiver = await hook();
    const overrides = {
      dataDir: gw.dir, registry: { path: gw.config.registry.path }, deadletter: { dir: gw.config.deadletter.dir },
      influx: { url: gw.config.influx.url, database: gw.config.influx.database }, log: { level: 'silent' },
      analytics: { policy: { frequencyCapMax: 0 }, api: { host: '127.0.0.1', port: 0, token: TOKEN }, delivery: { webhookUrl: receiver.url, webhookSecret: SECRET, mqtt: false, retryMinMs: 50, retryMaxMs: 500, pollMs: 20 } },
    };
    configFile = join(gw.dir, 'cli.yaml');
    await writeFile(configFile, stringify(overrides));
    a = createAnalytics(loadConfig({ env: {}, overrides }), { log: pino({ level: 'silent' }) });
    await a.open();
    // A first run, delivered everywhere (webhook, InfluxDB `trigger` points).
    await a.run({ asOfMs: END - 5 * DAY, ruleIds: ['washer-overloaded'] });
    await a.outbox.flush(30_000);
    assert.equal(a.state.outboxDepth(), 0);
    api = await buildApiApp({ analytics: a, token: TOKEN });
    await api.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(api.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await api?.close();
    await a?.stop();
    await receiver?.close();
    await gw?.stop();
  });

  describe('erasure reaches every store', () => {
    it('devices erase: registry, InfluxDB, dead letters, analytics state, a pending delivery and the API hold nothing of the device or its owner afterwards', async () => {
      const upsell = a.state.list({ limit: 10, deviceId: 'er-gone' }).items[0]!.trigger;
      // Feedback before the erasure (its InfluxDB delivery waits in the outbox) …
      assert.equal((await fetch(`${base}/api/triggers/${upsell.id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'accepted' }) })).status, 201);
      // … and a service trigger fired but not yet delivered.
      await a.run({ asOfMs: END, ruleIds: ['recurring-error'] });
      const pending = a.state.list({ limit: 10, deviceId: 'er-gone', category: 'service' }).items[0]!.trigger;
      assert.equal(a.state.outboxOf(pending.id).length, 2, 'webhook and InfluxDB deliveries pending');
      assert.ok((await traces('er-gone')).length >= 5, 'before: the device is everywhere');

      const r = await runCli(['-c', configFile, 'devices', 'erase', 'er-gone', '--yes', '--url', gw.httpUrl]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.registryRemoved, true);
      assert.equal(report.owner, 'er-owner-a');
      assert.equal(report.deadLetters, 1);
      assert.equal(report.analytics.triggers, 2);
      assert.equal(report.analytics.feedback, 1);
      assert.equal(report.analytics.outbox, 3, 'the pending trigger deliveries and the feedback delivery are cancelled');
      assert.match(r.stderr, /erased from the analytics state: 2 triggers, 1 feedback, 3 pending deliveries/);

      // Feedback after the erasure is refused; the deliveries that were pending never happen.
      const late = await fetch(`${base}/api/triggers/${upsell.id}/feedback`, { method: 'POST', headers: h, body: JSON.stringify({ outcome: 'converted' }) });
      assert.equal(late.status, 404);
      assert.equal((await late.json()).error.code, 'GW_ERR_TRIGGER_UNKNOWN');
      const sent = receiver.received.length;
      await a.outbox.flush(30_000);
      assert.ok(receiver.received.length > sent, 'the other devices\' pending triggers were delivered');
      assert.ok(!receiver.received.slice(sent).some((x) => x.trigger.deviceId === 'er-gone'));
      const report404 = await fetch(`${base}/api/owners/er-owner-a/report`, { headers: h });
      assert.equal(report404.status, 404);
      assert.deepEqual(await traces('er-gone'), []);
      assert.deepEqual(await traces('er-owner-a'), []);
      assert.deepEqual(await listDeadLetters(gw.config.deadletter.dir, { deviceId: 'er-gone' }), []);

      // The other device keeps everything.
      assert.ok(a.state.list({ limit: 10, deviceId: 'er-kept' }).items.length === 2);
      assert.equal((await gw.store.devicePoints('er-kept'))['raw.trigger'], 2);
      assert.equal((await listDeadLetters(gw.config.deadletter.dir, { deviceId: 'er-kept' })).length, 1);
    });

    it('owners erase: all the owner\'s devices, and their triggers and consent changes on a device sold on, while the buyer keeps theirs', async () => {
      await gw.gateway.registry.setConsent('ow-sold', ['marketing'], { source: 'cli', actor: 'seller' });
      await gw.gateway.registry.setOwner('ow-sold', 'er-owner-c', ['service'], { source: 'cli', actor: 'shop' });
      assert.equal(a.state.list({ limit: 10, owner: 'er-owner-b' }).items.length, 4, 'three upsells and a service trigger');
      assert.equal((await gw.store.devicePoints('ow-sold'))['raw.trigger'], 1, "the seller's trigger point on the device sold on");
      const r = await runCli(['-c', configFile, 'owners', 'erase', 'er-owner-b', '--yes', '--url', gw.httpUrl]);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.deepEqual(report.devices.map((d: { deviceId: string }) => d.deviceId).sort(), ['ow-1', 'ow-2']);
      assert.equal(report.soldOnTriggerPoints, 1);
      assert.equal(report.analytics.triggers, 1, "the seller's trigger on the device sold on");
      assert.equal(report.consentChanges, 2, "the seller's consent changes on the device sold on");
      assert.deepEqual(await traces('er-owner-b'), []);
      for (const id of ['ow-1', 'ow-2']) assert.deepEqual(await traces(id), [], id);
      // The buyer keeps the device, its readings and their own consent history.
      await gw.gateway.registry.refresh();
      const sold = gw.gateway.registry.device('ow-sold')!;
      assert.equal(sold.owner, 'er-owner-c');
      assert.deepEqual(sold.consentHistory!.map((c) => c.owner), ['er-owner-c']);
      assert.ok((await gw.store.devicePoints('ow-sold'))['raw.washer_cycle'] > 0);
      assert.equal((await gw.store.devicePoints('ow-sold'))['raw.trigger'], undefined);

      const again = await runCli(['-c', configFile, 'owners', 'erase', 'er-owner-b', '--yes', '--url', gw.httpUrl]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^error GW_ERR_NOT_FOUND: nothing is stored about owner "er-owner-b"/m);
      const noYes = await runCli(['-c', configFile, 'owners', 'erase', 'er-owner-k']);
      assert.equal(noYes.code, 1);
      assert.match(noYes.stderr, /GW_ERR_USAGE: .*--yes/);
    });
  });
});
