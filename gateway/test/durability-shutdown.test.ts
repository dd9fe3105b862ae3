import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalInflux } from '../../test/harness/influx-local.ts';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import { gatewayEnv, provisionDevices, until, TrackedPublisher } from '../../test/harness/durability.ts';
import { privateInflux } from '../../test/harness/influx.ts';
import { connect, washerCycle } from '../../test/harness/mqtt.ts';
import { startGatewayProcess, type GatewayProcess } from '../../test/harness/process.ts';

/**
 * SIGTERM: the gateway stops accepting connections, writes what it can within
 * shutdown.deadlineMs and exits; what it could not write stays in the spool and the next start
 * writes it.
 */
let influx: LocalInflux;
let dir: string;
let store: InfluxStore;
let env: NodeJS.ProcessEnv;
let device: { id: string; secret: string };
const procs: GatewayProcess[] = [];
const base = Date.now() - 86_400_000;
let nextSeq = 0;

async function publish(p: GatewayProcess, messages: number, perMessage: number): Promise<number> {
  const client = await connect(`mqtt://127.0.0.1:${p.mqttPort}`, device.id, device.secret);
  const msgs = Array.from({ length: messages }, () => ({
    id: nextSeq,
    payload: JSON.stringify(Array.from({ length: perMessage }, () => { const seq = nextSeq++; return washerCycle({ ts: base + seq * 1_000, seq }); })),
  }));
  const pub = new TrackedPublisher(client, `devices/${device.id}/telemetry`, msgs, { window: 5 });
  await pub.done;
  assert.equal(pub.acked.size, messages, 'every message acknowledged');
  await client.endAsync();
  return messages * perMessage;
}

const count = async () => (await store.query<{ n: number }>(`SELECT count("duration_s") AS n FROM "washer_cycle"`))[0]?.n ?? 0;
const stoppedLog = (p: GatewayProcess) => p.logs.find((l) => l.msg === 'gateway stopped') as { leftInSpool: { records: number; bytes: number } } | undefined;

before(async () => {
  influx = await privateInflux();
  dir = await mkdtemp(join(tmpdir(), 'ug-sigterm-'));
  const database = `t_${randomBytes(6).toString('hex')}`;
  store = createInfluxStore({ url: influx.url, database, retentionDays: 400, requestTimeoutMs: 30_000 });
  env = { ...gatewayEnv({ dataDir: dir, influxUrl: influx.url, database, deadlineMs: 3_000 }), UG_STATS_INTERVAL_S: '0' };
  [device] = await provisionDevices(dir, ['sigterm-1']);
});

after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  await influx?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('SIGTERM with InfluxDB up: everything acknowledged is written before the process exits', { timeout: 120_000 }, async () => {
  const p = await startGatewayProcess(env);
  procs.push(p);
  const sent = await publish(p, 20, 100);
  assert.equal(await p.kill('SIGTERM'), 0);
  await until(() => stoppedLog(p) !== undefined, 'the "gateway stopped" log line');
  assert.deepEqual(stoppedLog(p)!.leftInSpool, { records: 0, bytes: 0 });
  assert.equal(await count(), sent, 'written before exit, nothing left to a later start');
});

test('SIGTERM with InfluxDB down: stops accepting, exits after the deadline, the next start writes what was left', { timeout: 120_000 }, async () => {
  const before = await count();
  await influx.kill();
  const p = await startGatewayProcess(env);
  procs.push(p);
  const sent = await publish(p, 20, 100);

  p.child.kill('SIGTERM');
  await until(() => p.logs.some((l) => l.msg === 'shutting down'), 'the "shutting down" log line');
  await assert.rejects(connect(`mqtt://127.0.0.1:${p.mqttPort}`, device.id, device.secret, { connectTimeout: 5_000 }), 'no new connections while shutting down');
  assert.equal(await p.exited, 0, 'a clean exit once the deadline passed');
  await until(() => stoppedLog(p) !== undefined, 'the "gateway stopped" log line');
  assert.equal(stoppedLog(p)!.leftInSpool.records, 20, 'the unwritten messages stay in the spool');
  assert.ok(stoppedLog(p)!.leftInSpool.bytes > 0);

  await influx.restart();
  const next = await startGatewayProcess(env);
  procs.push(next);
  const open = next.logs.find((l) => l.msg === 'spool open') as { depthRecords: number } | undefined;
  assert.equal(open?.depthRecords, 20, 'the next start finds them');
  await until(async () => (await count()) === before + sent, `${before + sent} points`, 60_000, 200);
  await until(async () => {
    const s = (await (await fetch(`http://127.0.0.1:${next.httpPort}/status`)).json()) as { spool: { depthRecords: number } };
    return s.spool.depthRecords === 0;
  }, 'the spool to drain');
  assert.equal(await next.kill('SIGTERM'), 0);
});
