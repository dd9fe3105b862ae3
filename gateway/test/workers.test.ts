import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { Registry } from '../../core/registry/index.ts';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import { gatewayEnv, provisionDevices, until, TrackedPublisher, type TrackedMessage } from '../../test/harness/durability.ts';
import { freePort } from '../../test/harness/influx-local.ts';
import { testInflux } from '../../test/harness/influx.ts';
import { close, closed, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli, startGatewayProcess, type GatewayProcess } from '../../test/harness/process.ts';
import { startTestRedis, type TestRedis } from '../../test/harness/redis.ts';
import { storedHash, writeScryptEra } from '../../test/harness/secrets.ts';

// `usage-gateway gateway` with gateway.workers: 2 behind one MQTT port, sharing a real Redis.
let influx: { url: string; stop(): Promise<void> };
let redis: TestRedis;
let dir: string;
let database: string;
let store: InfluxStore;
let gw: GatewayProcess;
const procs: GatewayProcess[] = [];
let devices: Array<{ id: string; secret: string }>;
let consumer: { id: string; secret: string };
let analytics: { id: string; secret: string };
let oldDevice: { id: string; secret: string };

interface WorkerStatus { worker: number; pid?: number; state: string; restarts: number; connections?: Record<string, number>; spool?: { committedOffset: number; endOffset: number } }
interface Status { workers: WorkerStatus[]; readings: { received: number; written: number }; connections: Record<string, number>; ready: boolean }

async function status(p: GatewayProcess = gw): Promise<Status> {
  return (await fetch(`http://127.0.0.1:${p.httpPort}/status`)).json() as Promise<Status>;
}

const clientsOn = (s: Status) => s.workers.map((w) => Object.values(w.connections ?? {}).reduce((a, b) => a + b, 0));

/** Connections of this test that are open on the client side; the workers' counts follow them. */
let open = 0;
function track(client: MqttClient): MqttClient {
  open++;
  client.once('close', () => open--);
  return client;
}

/** Waits until the workers count as many connections as this test holds (closes seen by the server too). */
async function settled(): Promise<number[]> {
  let on: number[] = [];
  await until(async () => (on = clientsOn(await status())).reduce((a, b) => a + b, 0) === open, `the workers to count ${open} connections`, 10_000, 20);
  return on;
}

/**
 * Connects, and tells which worker took the connection (the one whose client count went up).
 * With `not`, connects again until a worker other than that one takes it.
 */
async function connectOn(make: () => Promise<MqttClient>, not?: number): Promise<{ client: MqttClient; worker: number }> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const before = await settled();
    const client = track(await make());
    const now = await settled();
    const worker = now.findIndex((n, i) => n > before[i]);
    assert.ok(worker >= 0, `a worker took the connection (${before} → ${now})`);
    if (worker !== not) return { client, worker };
    await close(client);
  }
  throw new Error(`every connection went to worker ${not}`);
}

/** The settings of a two-worker gateway; a setting given as '' is left out. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const all: NodeJS.ProcessEnv = { ...gatewayEnv({ dataDir: dir, influxUrl: influx.url, database }), UG_GATEWAY_WORKERS: '2', UG_CLUSTER_REDIS_URL: redis.url, UG_CLUSTER_PREFIX: `w${process.pid}`, UG_STATS_INTERVAL_S: '0', ...extra };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== ''));
}

before(async () => {
  [influx, redis] = await Promise.all([testInflux(), startTestRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'ug-workers-'));
  database = `t_${randomBytes(6).toString('hex')}`;
  store = createInfluxStore({ url: influx.url, database, retentionDays: 400, requestTimeoutMs: 30_000 });
  devices = await provisionDevices(dir, Array.from({ length: 6 }, (_, i) => `wk-${i}`));
  [oldDevice] = await provisionDevices(dir, ['wk-scrypt']);
  await writeScryptEra(join(dir, 'registry.json'), new Map([[oldDevice.id, oldDevice.secret]]));
  const registry = new Registry(join(dir, 'registry.json'), loadCatalogue(DEFAULT_MODELS_PATH));
  await registry.load();
  const c = await registry.addConsumer('wk-marketing', 'consumer', { purposes: ['marketing'] });
  consumer = { id: c.entry.id, secret: c.secret };
  const a = await registry.addConsumer('wk-analytics', 'analytics');
  analytics = { id: a.entry.id, secret: a.secret };
  gw = await startGatewayProcess(env());
  procs.push(gw);
});

after(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  await redis?.stop();
  await influx?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('gateway.workers: 2 with Redis', () => {
  const url = () => `mqtt://127.0.0.1:${gw.mqttPort}`;

  it('runs two workers on one port, each with its own spool; /status, /readyz and /metrics speak for the whole gateway and each worker', async () => {
    const s = await status();
    assert.equal(s.workers.length, 2);
    assert.deepEqual(s.workers.map((w) => w.state), ['running', 'running']);
    assert.notEqual(s.workers[0].pid, s.workers[1].pid);
    assert.ok(s.ready);
    for (const d of ['spool', 'spool/worker-0', 'spool/worker-1']) assert.equal((statSync(join(dir, d)).mode & 0o777).toString(8), '700', `${d} is private`);
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).status, 200);
    // Readings on both workers: the aggregated counter is their sum.
    const a = await connectOn(() => connect(url(), devices[0].id, devices[0].secret));
    const b = await connectOn(() => connect(url(), devices[1].id, devices[1].secret), a.worker);
    for (const [c, d] of [[a.client, devices[0]], [b.client, devices[1]]] as const) {
      await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify([washerCycle({ seq: 1, ts: Date.now() - 60_000 }), washerCycle({ seq: 2, ts: Date.now() - 30_000 })]), { qos: 1 });
      await close(c);
    }
    const text = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
    const total = [...text.matchAll(/^ug_readings_received_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(total, 4, text.split('\n').filter((l) => l.startsWith('ug_readings_received')).join('\n'));
    const one = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics/workers/${a.worker}`)).text();
    assert.match(one, /^ug_readings_received_total\{[^}]*\} 2$/m);
    const none = await fetch(`http://127.0.0.1:${gw.httpPort}/metrics/workers/7`);
    assert.equal(none.status, 404);
    assert.match(await none.text(), /workers are numbered 0 to 1/);
    assert.equal((await status()).readings.received, 4);
    const cli = await runCli(['status', '--url', `http://127.0.0.1:${gw.httpPort}`], { UG_LOG_LEVEL: 'silent' });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^readings   4 received/m);
    assert.match(cli.stdout, /^workers    0: running \(pid \d+\); 1: running \(pid \d+\)$/m);
    assert.equal(await countOf(`device_id = '${devices[0].id}' OR device_id = '${devices[1].id}'`, 4), 4);
  });

  it('a device\'s persistent session made on one worker is there on the other', async () => {
    const d = devices[2];
    const make = () => connect(url(), d.id, d.secret, { clean: false });
    const first = await connectOn(make);
    await first.client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    await close(first.client);
    let sessionPresent: boolean | undefined;
    const second = await connectOn(() => new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(url(), { clientId: d.id, username: d.id, password: d.secret, clean: false, reconnectPeriod: 0, protocolVersion: 4 });
      c.once('connect', (p) => {
        sessionPresent = p.sessionPresent;
        resolve(c);
      });
      c.once('error', reject);
    }), first.worker);
    assert.notEqual(second.worker, first.worker);
    assert.equal(sessionPresent, true, 'the other worker knows the session');
    // Not subscribed again on this connection: the notice comes through the session's subscription.
    const notice = nextMessage(second.client, `devices/${d.id}/rejected`);
    await second.client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ spin_rpm: 9000 })), { qos: 1 });
    assert.equal(JSON.parse((await notice).toString()).code, 'GW_ERR_INVALID_READING');
    await close(second.client);
  });

  it('a consumer subscribed on one worker receives the trigger analytics publishes on the other', async () => {
    const sub = await connectOn(() => connect(url(), consumer.id, consumer.secret));
    await sub.client.subscribeAsync('triggers/upsell/#', { qos: 1 });
    const got = nextMessage(sub.client, 'triggers/upsell/washer-overloaded');
    const pub = await connectOn(() => connect(url(), analytics.id, analytics.secret), sub.worker);
    const trigger = JSON.stringify({ id: 'trg-w', ruleId: 'washer-overloaded', deviceId: devices[0].id });
    await pub.client.publishAsync('triggers/upsell/washer-overloaded', trigger, { qos: 1 });
    assert.equal((await got).toString(), trigger);
    await close(pub.client);
    await close(sub.client);
  });

  it('a device that connects to the other worker while its old connection is open takes its id over', async () => {
    const d = devices[3];
    for (let attempt = 0; attempt < 8; attempt++) {
      const first = await connectOn(() => connect(url(), d.id, d.secret));
      const gone = closed(first.client);
      const second = track(await connect(url(), d.id, d.secret));
      await gone; // the old connection is closed by the broker, whichever worker the new one is on
      first.client.end(true);
      const on = await settled(); // the old one gone, the new one counted
      assert.equal(on.reduce((a, b) => a + b, 0), 1, 'one connection of the device in all');
      assert.ok(second.connected, 'the new connection stays');
      await close(second);
      if (on[first.worker] === 0) return; // taken over from the other worker
    }
    assert.fail('every new connection landed on the worker of the old one');
  });

  it('a device of an older registry (scrypt) authenticates through a worker, and its entry is stored in the fast form', async () => {
    const path = join(dir, 'registry.json');
    assert.match((await storedHash(path, oldDevice.id))!, /^scrypt\$/);
    const c = track(await connect(url(), oldDevice.id, oldDevice.secret));
    await until(async () => !(await storedHash(path, oldDevice.id))!.startsWith('scrypt$'), 'the entry rehashed', 10_000, 50);
    await close(c);
    const again = track(await connect(url(), oldDevice.id, oldDevice.secret));
    await close(again);
  });

  it('kill -9 of a worker loses no acknowledged reading: another takes its number and writes its spool', { timeout: 120_000 }, async () => {
    const before = await status();
    const victim = before.workers[1];
    const base = Date.now() - 86_400_000;
    const messages = (dev: number): TrackedMessage[] => Array.from({ length: 600 }, (_, seq) => ({ id: seq, payload: JSON.stringify(washerCycle({ ts: base + dev * 1_000_000 + seq * 1_000, seq })) }));
    const fleet = devices.slice(0, 4);
    const placed: Array<{ client: MqttClient; worker: number }> = [];
    for (const d of fleet) placed.push(await connectOn(() => connect(url(), d.id, d.secret)));
    assert.ok(placed.some((p) => p.worker === 1), 'a device on the worker that is killed');
    const pubs = placed.map((p, i) => new TrackedPublisher(p.client, `devices/${fleet[i].id}/telemetry`, messages(i), { window: 10 }));
    await until(() => pubs.reduce((n, p) => n + p.acked.size, 0) >= 400, 'readings acknowledged before the kill', 60_000, 5);
    process.kill(victim.pid!, 'SIGKILL');
    await Promise.all(pubs.map((p) => p.done));
    assert.ok(pubs.some((p, i) => p.lost && placed[i].worker === 1), 'the kill cut a device off');
    await until(async () => {
      const w = (await status()).workers[1];
      return w.state === 'running' && w.pid !== victim.pid && w.restarts === 1;
    }, 'worker 1 started again', 30_000, 100);
    const missing: string[] = [];
    await until(async () => {
      missing.length = 0;
      for (let i = 0; i < fleet.length; i++) {
        const rows = await store.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = '${fleet[i].id}' AND time >= ${base * 1e6}`);
        const stored = new Set(rows.map((r) => r.seq));
        for (const seq of pubs[i].acked) if (!stored.has(seq)) missing.push(`${fleet[i].id}#${seq}`);
      }
      return missing.length === 0;
    }, 'every acknowledged reading in InfluxDB', 60_000, 250);
    for (const p of pubs) p.lost || (await p.done);
    for (const p of placed) p.client.end(true);
    assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort}/readyz`)).status, 200);
    assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_WORKER_EXITED' && l.worker === 1), 'the death is logged with its code');
    const opened = gw.logs.filter((l) => l.msg === 'spool open' && l.worker === 1).map((l) => String(l.dir));
    assert.equal(opened.length, 2, 'worker 1 opened a spool at its start and at its restart');
    assert.ok(opened.every((d) => d === join(dir, 'spool', 'worker-1')), `the same folder both times: ${opened.join(', ')}`);
  });

  it('devices erase waits for the spool of every worker, then leaves no point of the device', async () => {
    const d = devices[5];
    const c = await connectOn(() => connect(url(), d.id, d.secret));
    await c.client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify([1, 2, 3].map((seq) => washerCycle({ seq, ts: Date.now() - 10_000 * seq }))), { qos: 1 });
    await close(c.client);
    const r = await runCli(['devices', 'erase', d.id, '--yes', '--url', `http://127.0.0.1:${gw.httpPort}`], { ...env(), UG_LOG_LEVEL: 'silent' });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.spool, 'drained');
    assert.equal(report.influx.points['raw.washer_cycle'], 3);
    assert.deepEqual(await store.devicePoints(d.id), {});
  });

  it('stops on SIGTERM: each worker drains, the primary exits 0', async () => {
    assert.equal(await gw.kill('SIGTERM'), 0);
    assert.ok(gw.logs.some((l) => l.msg === 'gateway stopped' && l.workers === 2));
  });
});

describe('gateway.workers without what it needs', () => {
  it('more than one worker without cluster.redisUrl: refused with GW_ERR_REDIS_UNAVAILABLE, saying what to set', async () => {
    const r = await runCli(['gateway'], { ...env({ UG_CLUSTER_REDIS_URL: '' }), UG_LOG_LEVEL: 'silent' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /GW_ERR_REDIS_UNAVAILABLE/);
    assert.match(r.stderr, /gateway\.workers is 2.*cluster\.redisUrl is not set/);
  });

  it('workers that cannot reach Redis: the gateway does not start and says where it looked', async () => {
    const port = await freePort();
    const r = await runCli(['gateway'], { ...env(), UG_CLUSTER_REDIS_URL: `redis://127.0.0.1:${port}`, UG_LOG_LEVEL: 'silent' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /GW_ERR_REDIS_UNAVAILABLE/);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });

  it('a bad gateway.workers is a configuration error naming the setting', async () => {
    const r = await runCli(['gateway'], { ...env(), UG_GATEWAY_WORKERS: 'many', UG_LOG_LEVEL: 'silent' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /gateway\.workers.*expected "auto" or a whole number of workers from 1 to 256/);
  });
});

describe('fewer workers than before', () => {
  it('readings left in the spool of a worker that no longer runs are written by the gateway that follows', { timeout: 120_000 }, async () => {
    const down = `http://127.0.0.1:${await freePort()}`; // no InfluxDB there: everything stays spooled
    const first = await startGatewayProcess(env({ UG_INFLUX_URL: down, UG_CLUSTER_PREFIX: `w2${process.pid}` }));
    procs.push(first);
    const url = `mqtt://127.0.0.1:${first.mqttPort}`;
    const base = Date.now() - 3_600_000;
    let onOne = 0;
    for (let i = 0; i < 5; i++) {
      const d = devices[i]; // devices[5] was erased above
      const c = await connect(url, d.id, d.secret);
      await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + i, seq: 10_000 + i })), { qos: 1 });
      await close(c);
    }
    const s = await status(first);
    onOne = s.workers[1].spool!.endOffset - s.workers[1].spool!.committedOffset;
    assert.ok(onOne > 0, 'worker 1 holds readings it could not write');
    assert.equal(await first.kill('SIGTERM'), 0);
    const single = await startGatewayProcess(env({ UG_GATEWAY_WORKERS: '1', UG_CLUSTER_REDIS_URL: '' }));
    procs.push(single);
    assert.equal(await countOf(`time >= ${base * 1e6} AND time < ${(base + 5) * 1e6}`, 5), 5);
    // Its points are in InfluxDB before its cursor moves: wait for the takeover to say it is done.
    await until(() => single.logs.some((l) => l.msg === 'spool taken over and written out' && String(l.spool).endsWith('worker-1')), 'worker-1\'s spool taken over', 30_000, 50);
    // Erasure waits on it as on the gateway's own spool: /status lists it, written out to its end.
    const taken = ((await status(single)) as unknown as { takeovers: Array<{ dir: string; committedOffset: number; endOffset: number }> }).takeovers.find((t) => t.dir.endsWith('worker-1'));
    assert.ok(taken && taken.endOffset > 0 && taken.committedOffset === taken.endOffset, JSON.stringify(taken));
    assert.equal(await single.kill('SIGTERM'), 0);
  });
});

/** Waits until `where` counts `n` washes (or the wait ends), and returns the count. */
async function countOf(where: string, n: number): Promise<number> {
  let got = 0;
  await until(async () => {
    const [row] = await store.query<{ n: number }>(`SELECT count("duration_s") AS n FROM "washer_cycle" WHERE ${where}`).catch(() => []);
    got = row?.n ?? 0;
    return got >= n;
  }, `${n} washes where ${where}`, 60_000, 200).catch(() => {});
  return got;
}
