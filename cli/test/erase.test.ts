import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { connect, close, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import { listDeadLetters } from '../../gateway/deadletter/index.ts';

/**
 * `usage-gateway devices erase <id>` against a running gateway: afterwards no point of the
 * device is left in any measurement (raw, roll-ups, triggers), nor its dead-letter entries
 * nor its registry entry; the other devices keep everything.
 */
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

test('before: the device has points in raw data, roll-ups and triggers, and dead-letter entries', async () => {
  const points = await gw.store.devicePoints(gone.id);
  assert.equal(points['raw.washer_cycle'], 5);
  assert.equal(points['raw.device_event'], 1);
  assert.equal(points['raw.trigger'], 1);
  assert.ok(points['rollup.washer_cycle_1h'] >= 1 && points['rollup.washer_cycle_1d'] >= 1);
  assert.equal((await listDeadLetters(gw.config.deadletter.dir, { deviceId: gone.id })).length, 1);
});

test('erase without --yes refuses and changes nothing', async () => {
  const r = await runCli(['-c', configFile, 'devices', 'erase', gone.id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /GW_ERR_USAGE: .*--yes/);
  assert.ok(gw.gateway.registry.get(gone.id));
});

test('an id that breaks the id rule is refused before anything is erased: the series without a device_id tag stay', async () => {
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

test('InfluxQL strings are quoted whatever they hold: quotes, backslashes and newlines', async () => {
  assert.ok((await gw.store.write(`esc_probe,device_id=it's\\ a\\,b v=1i ${Date.now() - 10_000}000000`)).ok);
  assert.deepEqual(await gw.store.devicePoints("it's a,b"), { 'raw.esc_probe': 1 });
  // A raw newline, or a backslash before the closing quote, would end the statement with "bad string".
  for (const id of ['a\nb', 'a\\', "a\\'", '"']) assert.deepEqual(await gw.store.devicePoints(id), {}, JSON.stringify(id));
});

test('devices erase leaves no point of that device in any measurement', async () => {
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

test('the other device keeps all its data', async () => {
  const points = await gw.store.devicePoints(kept.id);
  assert.equal(points['raw.washer_cycle'], 5);
  assert.equal(points['raw.trigger'], 1);
  assert.ok(points['rollup.washer_cycle_1h'] >= 1);
  assert.equal((await listDeadLetters(gw.config.deadletter.dir, { deviceId: kept.id })).length, 1);
});

test('the erased device can no longer connect, and erasing it again is harmless', async () => {
  await assert.rejects(connect(gw.mqttUrl, gone.id, gone.secret));
  const r = await runCli(['-c', configFile, 'devices', 'erase', gone.id, '--yes', '--url', gw.httpUrl]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /not in the registry/);
  assert.deepEqual(JSON.parse(r.stdout).influx.points, {});
});
