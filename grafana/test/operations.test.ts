import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { privateInflux } from '../../test/harness/influx.ts';
import { connect, close, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import type { LocalInflux } from '../../test/harness/influx-local.ts';

/**
 * What operators watch: /metrics carries the figures the health board is built on and they
 * move when readings flow (the spool ones during an InfluxDB outage), gateway_stats carries
 * the same into InfluxDB, and `usage-gateway status` prints a readable summary.
 */
let influx: LocalInflux;
let gw: TestGateway;
let dev: TestDevice;

type Samples = Map<string, number>;

async function scrape(): Promise<Samples> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text();
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    const m = /^(ug_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+|NaN)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

const get = (s: Samples, key: string) => s.get(key) ?? 0;

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  influx = await privateInflux();
  gw = await startTestGateway({ influxUrl: influx.url, overrides: { stats: { intervalS: 1, instance: 'ops' } } });
  dev = await gw.addDevice({ kind: 'washer', model: 'WM-9' });
});
after(async () => {
  await gw?.stop();
  await influx?.stop();
});

test('/metrics figures move when readings flow', async () => {
  const before = await scrape();
  for (const name of ['ug_spool_depth_records', 'ug_spool_depth_bytes', 'ug_spool_oldest_age_seconds', 'ug_points_written_total', 'ug_write_latency_seconds_count', 'ug_backpressure']) {
    assert.ok(before.has(name), `${name} is exposed`);
  }
  const c = await connect(gw.mqttUrl, dev.id, dev.secret);
  const connected = await scrape();
  assert.equal(get(connected, 'ug_connected_devices{kind="washer",model="WM-9"}'), 1);
  const now = Date.now();
  await c.publishAsync(`devices/${dev.id}/telemetry`, JSON.stringify([1, 2, 3].map((i) => washerCycle({ ts: now - i * 60_000, seq: i }))), { qos: 1 });
  await c.publishAsync(`devices/${dev.id}/telemetry`, JSON.stringify(washerCycle({ spin_rpm: 1.5 })), { qos: 1 });
  await gw.waitForCount('washer_cycle', 3);
  await until(async () => get(await scrape(), 'ug_points_written_total') >= get(before, 'ug_points_written_total') + 3, 'points written');
  const afterFlow = await scrape();
  assert.equal(get(afterFlow, 'ug_readings_received_total{kind="washer",measurement="washer_cycle"}'), 3);
  assert.ok(get(afterFlow, 'ug_readings_refused_total{reason="GW_ERR_INVALID_READING"}') >= 1);
  assert.ok(get(afterFlow, 'ug_write_latency_seconds_count') > get(before, 'ug_write_latency_seconds_count'));
  await close(c);
  await until(async () => get(await scrape(), 'ug_connected_devices{kind="washer",model="WM-9"}') === 0, 'the disconnect to show');
});

test('spool depth and age rise while InfluxDB is down and fall when it is back', async () => {
  await influx.kill();
  const c = await connect(gw.mqttUrl, dev.id, dev.secret);
  await c.publishAsync(`devices/${dev.id}/telemetry`, JSON.stringify(washerCycle({ seq: 100 })), { qos: 1 });
  await until(async () => {
    const s = await scrape();
    // The reading and at least two gateway_stats reports (one made after the reading) wait.
    return get(s, 'ug_spool_depth_records') >= 3 && get(s, 'ug_spool_oldest_age_seconds') > 0 && get(s, 'ug_write_retries_total{cause="unreachable"}') >= 1;
  }, 'the spool to grow');
  await influx.restart();
  await until(async () => get(await scrape(), 'ug_spool_depth_records') === 0, 'the spool to drain', 60_000);
  assert.equal(get(await scrape(), 'ug_spool_oldest_age_seconds'), 0);
  await close(c);
  // gateway_stats points written during the outage waited in the spool: the outage is on the board.
  await until(async () => {
    const rows = await gw.query<{ max: number }>(`SELECT max("spool_depth_records") FROM "gateway_stats" WHERE "instance" = 'ops'`);
    return (rows[0]?.max ?? 0) >= 1;
  }, 'gateway_stats to show the spooled messages');
});

test('gateway_stats carries the same figures into InfluxDB', async () => {
  const m = await scrape();
  const retries = [...m].filter(([k]) => k.startsWith('ug_write_retries_total')).reduce((n, [, v]) => n + v, 0);
  const refused = get(m, 'ug_readings_refused_total{reason="GW_ERR_INVALID_READING"}');
  assert.ok(retries >= 1 && refused >= 1);
  // The figures are steady now (no traffic): the next reports must carry exactly them.
  let last: Record<string, number> | undefined;
  await until(async () => {
    [last] = await gw.query<Record<string, number>>(`SELECT last("readings_received") AS "received", last("points_written") AS "written", last("readings_refused") AS "refused", last("write_retries") AS "retries", last("spool_depth_records") AS "depth" FROM "gateway_stats" WHERE "instance" = 'ops'`);
    return last?.received === 4 && last.retries === retries && last.depth === 0;
  }, 'gateway_stats to report the figures of /metrics');
  assert.equal(last!.refused, refused);
  assert.ok(last!.written >= 4);
  const byReason = await gw.query<{ last: number }>(`SELECT last("refused") FROM "gateway_stats" WHERE "reason" = 'GW_ERR_INVALID_READING'`);
  assert.equal(byReason[0]?.last, refused);
});

test('usage-gateway status prints a readable summary of the running gateway', async () => {
  const r = await runCli(['status', '--url', gw.httpUrl]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^gateway\s+running, up \d+ s, ready$/m);
  assert.match(r.stdout, /^readings\s+4 received, \d+ written to InfluxDB, \d+ refused$/m);
  assert.match(r.stdout, /^spool\s+0 messages \/ 0 B waiting/m);
  assert.match(r.stdout, /^influxdb\s+http:\/\/127\.0\.0\.1:\d+ db t_\w+: writing$/m);
  const json = JSON.parse((await runCli(['status', '--url', gw.httpUrl, '--json'])).stdout);
  assert.equal(json.readings.received, 4);
  const down = await runCli(['status', '--url', 'http://127.0.0.1:9']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /GW_ERR_USAGE: no gateway answers at http:\/\/127\.0\.0\.1:9/);
});
