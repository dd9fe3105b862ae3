import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import { gatewayEnv, provisionDevices, until, TrackedPublisher, type TrackedMessage } from '../../test/harness/durability.ts';
import { testInflux } from '../../test/harness/influx.ts';
import { connect, washerCycle } from '../../test/harness/mqtt.ts';
import { startGatewayProcess, type GatewayProcess } from '../../test/harness/process.ts';

/**
 * `kill -9` of the gateway process while 8 devices publish single QoS 1 readings, each
 * recording which of its messages got a PUBACK. After a restart on the same data folder every
 * acknowledged reading reaches InfluxDB; once the devices resend what was not acknowledged
 * (as MQTT devices do), every reading is stored exactly once.
 */
const DEVICES = 8;
const PER_DEVICE = 1_500;

let influx: { url: string; stop(): Promise<void> };
let dir: string;
let database: string;
let store: InfluxStore;
let procs: GatewayProcess[] = [];
const base = Date.now() - 2 * 86_400_000;
const durationOf = (dev: number, seq: number) => 1 + ((dev * 104_729 + seq * 17) % 36_000);

function messages(dev: number, seqs: number[]): TrackedMessage[] {
  return seqs.map((seq) => ({ id: seq, payload: JSON.stringify(washerCycle({ ts: base + seq * 1_000, seq, duration_s: durationOf(dev, seq) })) }));
}

async function storedSeqs(deviceId: string): Promise<Map<number, number>> {
  const rows = await store.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = '${deviceId}'`);
  const out = new Map<number, number>();
  for (const r of rows) out.set(r.seq, (out.get(r.seq) ?? 0) + 1);
  return out;
}

before(async () => {
  influx = await testInflux();
  dir = await mkdtemp(join(tmpdir(), 'ug-crash-'));
  database = `t_${randomBytes(6).toString('hex')}`;
  store = createInfluxStore({ url: influx.url, database, retentionDays: 400, requestTimeoutMs: 30_000 });
});

after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
  await influx?.stop();
});

test('kill -9 while devices publish at QoS 1 loses no acknowledged reading and stores none twice', { timeout: 180_000 }, async (t) => {
  const devices = await provisionDevices(dir, Array.from({ length: DEVICES }, (_, i) => `crash-${i}`));
  const env = gatewayEnv({ dataDir: dir, influxUrl: influx.url, database });
  const first = await startGatewayProcess(env);
  procs.push(first);
  const url = `mqtt://127.0.0.1:${first.mqttPort}`;
  const all = Array.from({ length: PER_DEVICE }, (_, i) => i);
  const clients = await Promise.all(devices.map((d) => connect(url, d.id, d.secret)));
  const pubs = devices.map((d, i) => new TrackedPublisher(clients[i], `devices/${d.id}/telemetry`, messages(i, all), { window: 10 }));
  const ackedNow = () => pubs.reduce((n, p) => n + p.acked.size, 0);

  await until(() => ackedNow() >= 2_000, '2,000 acknowledged readings before the kill', 120_000, 5);
  await first.kill('SIGKILL');
  await Promise.all(pubs.map((p) => p.done));
  const acked = pubs.map((p) => new Set(p.acked));
  const ackedTotal = acked.reduce((n, s) => n + s.size, 0);
  assert.ok(pubs.some((p) => p.lost), 'the kill cut publishers off mid-run');
  assert.ok(ackedTotal < DEVICES * PER_DEVICE, 'some readings were not acknowledged when the process died');
  const unackedInFlight = pubs.reduce((n, p) => n + [...p.sent].filter((s) => !p.acked.has(s)).length, 0);

  const second = await startGatewayProcess(env);
  procs.push(second);
  const replayLog = second.logs.find((l) => l.msg === 'spool open') as { depthRecords?: number } | undefined;
  assert.ok(replayLog, 'the restarted gateway opened the spool');

  // Every acknowledged reading arrives, with nothing resent yet: it came from the spool.
  let missing: string[] = [];
  await until(async () => {
    missing = [];
    for (let i = 0; i < DEVICES; i++) {
      const stored = await storedSeqs(devices[i].id);
      for (const seq of acked[i]) if (!stored.has(seq)) missing.push(`${devices[i].id}#${seq}`);
    }
    return missing.length === 0;
  }, `acknowledged readings in InfluxDB (missing: ${missing.slice(0, 5).join(', ')}…)`, 120_000, 500);

  // The devices resend whatever was not acknowledged, on a new connection.
  const url2 = `mqtt://127.0.0.1:${second.mqttPort}`;
  const resends = await Promise.all(devices.map(async (d, i) => {
    const client = await connect(url2, d.id, d.secret);
    const p = new TrackedPublisher(client, `devices/${d.id}/telemetry`, messages(i, all.filter((s) => !acked[i].has(s))), { window: 10 });
    await p.done;
    await client.endAsync();
    return p;
  }));
  for (const p of resends) assert.equal(p.acked.size, p.sent.size, 'every resent message acknowledged');

  const total = DEVICES * PER_DEVICE;
  await until(async () => {
    const [row] = await store.query<{ n: number }>('SELECT count("duration_s") AS n FROM "washer_cycle"');
    return row?.n === total;
  }, `${total} points`, 120_000, 500);
  for (let i = 0; i < DEVICES; i++) {
    const stored = await storedSeqs(devices[i].id);
    assert.equal(stored.size, PER_DEVICE, `${devices[i].id}: every reading stored`);
    assert.ok([...stored.values()].every((n) => n === 1), `${devices[i].id}: no reading twice`);
  }
  const [agg] = await store.query<{ n: number; s: number }>('SELECT count("duration_s") AS n, sum("duration_s") AS s FROM "washer_cycle"');
  let expectedSum = 0;
  for (let dev = 0; dev < DEVICES; dev++) for (let seq = 0; seq < PER_DEVICE; seq++) expectedSum += durationOf(dev, seq);
  assert.equal(agg.n, total);
  assert.equal(agg.s, expectedSum);
  t.diagnostic(`acked before the kill: ${ackedTotal}; sent but unacknowledged at the kill: ${unackedInFlight}; spool records replayed at restart: ${replayLog.depthRecords}`);
  assert.equal(await second.kill('SIGTERM'), 0);
});
