import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalInflux } from '../../test/harness/influx-local.ts';
import { scrapeMetrics, until, TrackedPublisher, type TrackedMessage } from '../../test/harness/durability.ts';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { privateInflux } from '../../test/harness/influx.ts';
import { close, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';

/**
 * The spool limit reached while InfluxDB is down: QoS 1 messages are held without PUBACK (the
 * devices keep them), QoS 0 is refused and counted, /readyz, the logs and `status` say why;
 * once InfluxDB is back the held messages are acknowledged and everything acknowledged is
 * stored.
 */
const DEVICES = 3;
const MESSAGES = 40;
const PER_MESSAGE = 100;

let influx: LocalInflux;
let gw: TestGateway;
let devices: TestDevice[] = [];
let clients: MqttClient[] = [];
const base = Date.now() - 86_400_000;

function messages(): TrackedMessage[] {
  return Array.from({ length: MESSAGES }, (_, m) => ({
    id: m,
    payload: JSON.stringify(Array.from({ length: PER_MESSAGE }, (_, r) => {
      const seq = m * PER_MESSAGE + r;
      return washerCycle({ ts: base + seq * 10_000, seq });
    })),
  }));
}

before(async () => {
  influx = await privateInflux();
  gw = await startTestGateway({
    influxUrl: influx.url,
    captureLogs: true,
    overrides: { spool: { maxBytes: 1024 * 1024, segmentBytes: 64 * 1024 }, stats: { intervalS: 0 } },
  });
  for (let i = 0; i < DEVICES; i++) devices.push(await gw.addDevice({ kind: 'washer', id: `held-${i}` }));
  clients = await Promise.all(devices.map((d) => connect(gw.mqttUrl, d.id, d.secret)));
});

after(async () => {
  for (const c of clients) await close(c).catch(() => {});
  await gw?.stop();
  await influx?.stop();
});

test('a full spool holds QoS 1 PUBACKs, refuses QoS 0, says so, and loses nothing once InfluxDB is back', { timeout: 180_000 }, async () => {
  await influx.kill();
  const pubs = devices.map((d, i) => new TrackedPublisher(clients[i], `devices/${d.id}/telemetry`, messages(), { window: 1 }));
  const acked = () => pubs.reduce((n, p) => n + p.acked.size, 0);
  const received = async () => (await scrapeMetrics(gw.httpUrl)).get('ug_messages_received_total{qos="1"}') ?? 0;

  // Full: each device's current message has reached the gateway but is not acknowledged.
  await until(async () => gw.gateway.spool.full && (await received()) === acked() + DEVICES, 'the spool to fill and one message per device to be held');
  const heldAt = acked();
  assert.ok(heldAt < DEVICES * MESSAGES, 'the limit was reached before everything was sent');
  const st = gw.gateway.spool.stats();
  assert.ok(st.depthBytes >= 1024 * 1024, `spool depth ${st.depthBytes} bytes is at the limit`);
  // Not acknowledged now, nor a little later: the PUBACKs are held, not merely slow.
  const watchUntil = Date.now() + 2_000;
  while (Date.now() < watchUntil) {
    assert.equal(acked(), heldAt, 'no PUBACK while the spool is full');
    assert.equal(await received(), heldAt + DEVICES);
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const p of pubs) assert.equal(p.lost, false, 'held devices stay connected');

  const ready = await fetch(`${gw.httpUrl}/readyz`);
  assert.equal(ready.status, 503);
  const body = (await ready.json()) as { ready: boolean; reasons: string[] };
  assert.equal(body.ready, false);
  assert.match(body.reasons.join(' '), /spool is full/);
  assert.equal((await scrapeMetrics(gw.httpUrl)).get('ug_backpressure'), 1);
  assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_SPOOL_FULL' && /spool full/.test(String(l.msg))), 'the logs say the spool is full');
  const status = await runCli(['status', '--url', gw.httpUrl]);
  assert.match(status.stdout, /NOT READY: spool is full/);
  assert.match(status.stdout, /FULL \(backpressure\)/);

  // QoS 0 is refused, counted, and the device is told why.
  const q0 = await gw.addDevice({ kind: 'washer', id: 'held-q0' });
  const c0 = await connect(gw.mqttUrl, q0.id, q0.secret);
  await c0.subscribeAsync(`devices/${q0.id}/rejected`, { qos: 1 });
  const notice = nextMessage(c0, `devices/${q0.id}/rejected`, 20_000);
  await c0.publishAsync(`devices/${q0.id}/telemetry`, JSON.stringify(washerCycle({ ts: base, seq: 0 })), { qos: 0 });
  assert.equal(JSON.parse((await notice).toString()).code, 'GW_ERR_SPOOL_FULL');
  assert.equal((await scrapeMetrics(gw.httpUrl)).get('ug_messages_refused_total{reason="GW_ERR_SPOOL_FULL"}'), 1);
  await close(c0);

  await influx.restart();
  await Promise.all(pubs.map((p) => p.done));
  for (const p of pubs) {
    assert.equal(p.lost, false);
    assert.equal(p.acked.size, MESSAGES, 'every held message acknowledged once there was room');
  }
  const total = DEVICES * MESSAGES * PER_MESSAGE;
  assert.equal(await gw.waitForCount('washer_cycle', total, { timeoutMs: 120_000 }), total);
  assert.equal(await gw.count('washer_cycle'), total, 'each reading once');
  assert.equal(await gw.count('washer_cycle', `device_id = '${q0.id}'`), 0, 'the refused QoS 0 reading was not stored');
  await until(async () => (await fetch(`${gw.httpUrl}/readyz`)).status === 200, '/readyz to say ready again');
  assert.ok(gw.logs.some((l) => /room again/.test(String(l.msg))), 'the logs say acknowledging resumed');
  assert.equal((await scrapeMetrics(gw.httpUrl)).get('ug_backpressure'), 0);
});
