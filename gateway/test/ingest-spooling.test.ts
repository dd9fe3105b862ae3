import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { scrapeMetrics } from '../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';

/**
 * The ingest queue's slot covers decoding and the hand-off to the spool, not the wait for the
 * disk: several QoS 1 messages share a commit even when one at a time is decoded, and the
 * messages waiting for the disk have a bound of their own that stops reading.
 */
const DEVICES = 10;
const PER_DEVICE = 30;

const gateways: TestGateway[] = [];
let clients: MqttClient[] = [];

after(async () => {
  for (const c of clients) await close(c).catch(() => {});
  for (const gw of gateways) await gw.stop();
});

async function fleet(gw: TestGateway, prefix: string): Promise<MqttClient[]> {
  const out: MqttClient[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const d = await gw.addDevice({ kind: 'washer', id: `${prefix}-${i}` });
    out.push(await connect(gw.mqttUrl, d.id, d.secret));
  }
  clients.push(...out);
  return out;
}

/** Every device publishes all its readings at QoS 1 at once; resolves when each is acknowledged. */
function publishAll(devices: MqttClient[], prefix: string): Promise<unknown> {
  const base = Date.now() - 3_600_000;
  return Promise.all(devices.map((c, i) => Promise.all(Array.from({ length: PER_DEVICE }, (_, k) =>
    c.publishAsync(`devices/${prefix}-${i}/telemetry`, JSON.stringify(washerCycle({ ts: base + k * 1000, seq: k })), { qos: 1 })))));
}

test('messages waiting for the disk do not hold the ingest slot: with one slot, several share a commit', { timeout: 120_000 }, async () => {
  const gw = await startTestGateway({ overrides: { ingest: { maxInFlight: 1, pauseAtSpooling: 1_000_000 }, stats: { intervalS: 0 } } });
  gateways.push(gw);
  const devices = await fleet(gw, 'sp');
  await publishAll(devices, 'sp');
  const total = DEVICES * PER_DEVICE;
  assert.equal(await gw.waitForCount('washer_cycle', total, { timeoutMs: 90_000 }), total, 'every acknowledged reading stored');
  const ingest = (await gw.gateway.status()).ingest as { peakSpooling: number; spooling: number; inFlight: number };
  assert.ok(ingest.peakSpooling >= 2, `with one slot, ${ingest.peakSpooling} message(s) were waiting for the disk at once`);
  assert.deepEqual({ spooling: ingest.spooling, inFlight: ingest.inFlight }, { spooling: 0, inFlight: 0 });
});

test('reading stops at ingest.pauseAtSpooling messages waiting for the disk, and every reading is still stored once', { timeout: 120_000 }, async () => {
  const gw = await startTestGateway({ overrides: { ingest: { pauseAtQueued: 1_000_000, maxQueued: 1_000_000, pauseAtSpooling: 2 }, stats: { intervalS: 0 } } });
  gateways.push(gw);
  const devices = await fleet(gw, 'sq');
  await publishAll(devices, 'sq');
  const total = DEVICES * PER_DEVICE;
  assert.equal(await gw.waitForCount('washer_cycle', total, { timeoutMs: 90_000 }), total);
  const m = await scrapeMetrics(gw.httpUrl);
  assert.ok((m.get('ug_ingest_pauses_total') ?? 0) > 0, 'reading stopped while two messages were waiting for the disk');
  assert.equal(await gw.count('washer_cycle'), total, 'each reading once');
});
