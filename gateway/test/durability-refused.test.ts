import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeadLetter } from '../deadletter/index.ts';
import { scrapeMetrics, until } from '../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';

/**
 * InfluxDB refuses some points of a batch (HTTP 400): a string `vibration_g` written first
 * makes every later float `vibration_g` in that shard a field type conflict. The writer splits
 * the batch until the refused points are alone; they go to the dead-letter store with
 * InfluxDB's error, the other points of the same batches are written, and the writer goes on.
 */
let gw: TestGateway;
before(async () => { gw = await startTestGateway({ overrides: { stats: { intervalS: 0 } } }); });
after(async () => { await gw?.stop(); });

test('a 400 on a batch dead-letters only the refused points, with InfluxDB\'s error; the rest are written', { timeout: 120_000 }, async () => {
  const base = Date.now() - 3_600_000;
  const poison = await gw.store.write(`washer_cycle,device_id=conflict-maker,kind=washer,model=WM-8 vibration_g="bad" ${base - 1_000}000000`);
  assert.equal(poison.ok, true, 'the conflicting string field is stored first');

  const d = await gw.addDevice({ kind: 'washer', id: 'refused-1' });
  const c = await connect(gw.mqttUrl, d.id, d.secret);
  // 3 messages of 40 readings; every 8th reading carries vibration_g (a float): 15 of 120.
  const bad = new Set<number>();
  for (let m = 0; m < 3; m++) {
    const readings = Array.from({ length: 40 }, (_, r) => {
      const seq = m * 40 + r;
      if (seq % 8 === 3) bad.add(seq);
      return washerCycle({ ts: base + seq * 1_000, seq, ...(seq % 8 === 3 ? { vibration_g: 0.5 + seq / 100 } : {}) });
    });
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(readings), { qos: 1 });
  }
  await close(c);

  const good = 120 - bad.size;
  await until(async () => (await scrapeMetrics(gw.httpUrl)).get('ug_deadlettered_total{source="influx"}') === bad.size, `${bad.size} dead-lettered points`);
  await until(() => gw.gateway.spool.stats().depthRecords === 0, 'the spool to drain');
  assert.equal(await gw.count('washer_cycle', `device_id = '${d.id}'`), good);
  const stored = await gw.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = '${d.id}'`);
  assert.deepEqual(stored.map((r) => r.seq).sort((a, b) => a - b), [...Array(120).keys()].filter((s) => !bad.has(s)));

  // `usage-gateway deadletter list` shows exactly the refused points, with InfluxDB's words.
  const r = await runCli(['deadletter', 'list', '--json', '--code', 'GW_ERR_INFLUX_REFUSED'], { UG_DATA_DIR: gw.dir });
  assert.equal(r.code, 0, r.stderr);
  const entries = JSON.parse(r.stdout) as DeadLetter[];
  assert.equal(entries.length, bad.size);
  const seqs = entries.map((e) => Number(/(?:^| |,)seq=(\d+)i/.exec(e.line ?? '')?.[1])).sort((a, b) => a - b);
  assert.deepEqual(seqs, [...bad].sort((a, b) => a - b));
  for (const e of entries) {
    assert.equal(e.source, 'influx');
    assert.equal(e.deviceId, d.id);
    assert.match(e.reason, /field type conflict/);
    assert.match(e.reason, /vibration_g/);
  }
  const text = await runCli(['deadletter', 'list', '--device', d.id], { UG_DATA_DIR: gw.dir });
  assert.match(text.stdout, /GW_ERR_INFLUX_REFUSED/);
  assert.match(text.stdout, new RegExp(`${bad.size} entries shown`));

  // The writer is not stuck: later readings still flow.
  const c2 = await connect(gw.mqttUrl, d.id, d.secret);
  await c2.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + 500_000, seq: 500 })), { qos: 1 });
  await close(c2);
  assert.equal(await gw.waitForCount('washer_cycle', good + 1, { where: `device_id = '${d.id}'` }), good + 1);
  const status = await runCli(['status', '--url', gw.httpUrl]);
  assert.match(status.stdout, new RegExp(`^dead-letter ${bad.size} from influx$`, 'm'));
  assert.match(status.stdout, /^writes\s+0 retries, latency last [\d.]+ ms, mean [\d.]+ ms over [1-9]\d* writes$/m);
  const m = await scrapeMetrics(gw.httpUrl);
  assert.ok(m.get('ug_write_latency_seconds_count')! > 0);
  assert.equal(m.get('ug_deadlettered_total{source="influx"}'), bad.size);
});
