import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalInflux } from '../../test/harness/influx-local.ts';
import { until, scrapeMetrics, TrackedPublisher, type TrackedMessage } from '../../test/harness/durability.ts';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { privateInflux } from '../../test/harness/influx.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';

/**
 * 20 devices publish 50,000 QoS 1 readings (messages of 10 readings each) while a private
 * InfluxDB is killed for 30 s in the middle of the run: 10,000 before the outage, 30,000 during
 * it, 10,000 after it while the backlog drains. Afterwards every reading is in InfluxDB
 * exactly once: the count, a per-device count and the sum of an integer field all match.
 */
const DEVICES = 20;
const PER_DEVICE = 2_500;
const PER_MESSAGE = 10;
const OUTAGE_MS = 30_000;
const PHASES = [[0, 500], [500, 2_000], [2_000, 2_500]] as const;

let influx: LocalInflux;
let gw: TestGateway;
let devices: TestDevice[] = [];
let clients: MqttClient[] = [];
const base = Date.now() - 3 * 86_400_000;

/** An integer per reading, so the stored sum is an exact checksum of the values. */
const durationOf = (dev: number, seq: number) => 1 + ((dev * 7_919 + seq * 31) % 36_000);

function messages(dev: number, from: number, to: number): TrackedMessage[] {
  const out: TrackedMessage[] = [];
  for (let first = from; first < to; first += PER_MESSAGE) {
    const readings = [];
    for (let seq = first; seq < first + PER_MESSAGE; seq++) {
      readings.push(washerCycle({ ts: base + seq * 60_000, seq, duration_s: durationOf(dev, seq), load_kg: (seq % 80) / 10 }));
    }
    out.push({ id: first, payload: JSON.stringify(readings) });
  }
  return out;
}

async function publishPhase(from: number, to: number): Promise<number> {
  const pubs = devices.map((d, i) => new TrackedPublisher(clients[i], `devices/${d.id}/telemetry`, messages(i, from, to), { window: 5 }));
  await Promise.all(pubs.map((p) => p.done));
  for (const p of pubs) {
    assert.equal(p.lost, false, 'no connection was lost');
    assert.equal(p.acked.size, (to - from) / PER_MESSAGE, 'every message acknowledged');
  }
  return pubs.reduce((n, p) => n + p.acked.size * PER_MESSAGE, 0);
}

before(async () => {
  influx = await privateInflux();
  gw = await startTestGateway({ influxUrl: influx.url, overrides: { stats: { intervalS: 0 } } });
  for (let i = 0; i < DEVICES; i++) devices.push(await gw.addDevice({ kind: 'washer', id: `outage-${i}` }));
  clients = await Promise.all(devices.map((d) => connect(gw.mqttUrl, d.id, d.secret)));
});

after(async () => {
  for (const c of clients) await close(c).catch(() => {});
  await gw?.stop();
  await influx?.stop();
});

test('50,000 QoS 1 readings from 20 devices across a 30 s InfluxDB outage are all stored, each once', { timeout: 240_000 }, async (t) => {
  const ackedBefore = await publishPhase(...PHASES[0]);
  await influx.kill();
  const outageStart = Date.now();

  const ackedDuring = await publishPhase(...PHASES[1]);
  await until(async () => (await scrapeMetrics(gw.httpUrl)).get('ug_write_retries_total{cause="unreachable"}')! > 0, 'the writer to retry');
  const during = gw.gateway.spool.stats();
  assert.ok(during.depthRecords >= 30_000 / PER_MESSAGE, `the outage's messages wait in the spool (${during.depthRecords})`);
  assert.ok(during.oldestAgeMs > 0);
  const ready = await fetch(`${gw.httpUrl}/readyz`);
  assert.equal(ready.status, 200, 'a growing spool below its limit is not a reason to refuse traffic');
  const status = await runCli(['status', '--url', gw.httpUrl]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^influxdb .*FAILING/m);
  assert.match(status.stdout, /^spool\s+[1-9]\d* messages \/ [\d.]+ [KM]iB waiting, oldest \d+\.\d s$/m);
  assert.match(status.stdout, /^writes\s+[1-9]\d* retries/m);
  t.diagnostic(`during the outage: ${during.depthRecords} messages / ${during.depthBytes} bytes spooled, oldest ${during.oldestAgeMs} ms`);

  // The outage lasts its full 30 s whatever the publishers did meanwhile.
  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - outageStart))));
  await influx.restart();
  const ackedAfter = await publishPhase(...PHASES[2]);
  assert.equal(ackedBefore + ackedDuring + ackedAfter, DEVICES * PER_DEVICE);

  const total = DEVICES * PER_DEVICE;
  assert.equal(await gw.waitForCount('washer_cycle', total, { timeoutMs: 150_000 }), total);
  await until(() => gw.gateway.spool.stats().depthRecords === 0, 'the spool to drain');

  const [agg] = await gw.query<{ n: number; s: number }>('SELECT count("duration_s") AS n, sum("duration_s") AS s FROM "washer_cycle"');
  let expectedSum = 0;
  for (let dev = 0; dev < DEVICES; dev++) for (let seq = 0; seq < PER_DEVICE; seq++) expectedSum += durationOf(dev, seq);
  assert.equal(agg.n, total, 'exactly one point per reading');
  assert.equal(agg.s, expectedSum, 'the sum of the values matches what was sent');
  const perDevice = await gw.query<{ device_id: string; n: number }>('SELECT count("duration_s") AS n FROM "washer_cycle" GROUP BY "device_id"');
  assert.equal(perDevice.length, DEVICES);
  for (const row of perDevice) assert.equal(row.n, PER_DEVICE, `readings of ${row.device_id}`);
  const [seqs] = await gw.query<{ lo: number; hi: number }>(`SELECT min("seq") AS lo, max("seq") AS hi FROM "washer_cycle" WHERE "device_id" = 'outage-7'`);
  assert.deepEqual([seqs.lo, seqs.hi], [0, PER_DEVICE - 1]);

  const m = await scrapeMetrics(gw.httpUrl);
  assert.equal(m.get('ug_spool_depth_records'), 0);
  assert.ok(m.get('ug_points_written_total')! >= total);
});
