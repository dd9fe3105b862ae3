import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { LocalInflux } from '../../test/harness/influx-local.ts';
import { scrapeMetrics } from '../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { privateInflux } from '../../test/harness/influx.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';

/**
 * A burst through a real gateway with a small ingest queue: reading from the connections stops
 * (ug_ingest_pauses_total) instead of the gateway buffering, and every QoS 0 reading is stored,
 * none refused.
 */
const DEVICES = 20;
const PER_DEVICE = 100;

let influx: LocalInflux;
let gw: TestGateway;
let clients: MqttClient[] = [];

before(async () => {
  influx = await privateInflux();
  gw = await startTestGateway({ influxUrl: influx.url, overrides: { ingest: { maxInFlight: 4, pauseAtQueued: 8, maxQueued: 1_000_000 }, stats: { intervalS: 0 } } });
  for (let i = 0; i < DEVICES; i++) {
    const d = await gw.addDevice({ kind: 'washer', id: `burst-${i}` });
    clients.push(await connect(gw.mqttUrl, d.id, d.secret));
  }
});

after(async () => {
  for (const c of clients) await close(c).catch(() => {});
  await gw?.stop();
  await influx?.stop();
});

test('a burst pauses reading from connections and stores every QoS 0 reading', { timeout: 120_000 }, async () => {
  const base = Date.now() - 3_600_000;
  await Promise.all(clients.map((c, i) => Promise.all(Array.from({ length: PER_DEVICE }, (_, k) =>
    c.publishAsync(`devices/burst-${i}/telemetry`, JSON.stringify(washerCycle({ ts: base + k * 1000, seq: k })), { qos: 0 })))));
  const total = DEVICES * PER_DEVICE;
  assert.equal(await gw.waitForCount('washer_cycle', total, { timeoutMs: 90_000 }), total);
  const m = await scrapeMetrics(gw.httpUrl);
  assert.ok((m.get('ug_ingest_pauses_total') ?? 0) > 0, 'reading stopped at least once while the queue was deep');
  assert.equal(m.get('ug_messages_refused_total{reason="GW_ERR_INGEST_BUSY"}') ?? 0, 0, 'nothing refused');
  assert.equal(await gw.count('washer_cycle'), total, 'each reading once');
});
