import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { freePort } from '../../test/harness/influx-local.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, closed, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import { startTestRedis, type TestRedis } from '../../test/harness/redis.ts';

// Two gateway instances sharing one Redis (cluster mode), one registry file and one InfluxDB
// database; each has its own data folder and spool.
let redis: TestRedis;
let shared: string;
let a: TestGateway;
let b: TestGateway;

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function counter(t: TestGateway, name: 'readingsIn' | 'pointsWritten'): Promise<number> {
  return (await t.gateway.metrics[name].get()).values.reduce((n, v) => n + v.value, 0);
}

/** A client whose message listener is in place before CONNACK, so queued messages are not missed. */
function connectCollecting(url: string, id: string, secret: string, opts: IClientOptions): Promise<{ client: MqttClient; sessionPresent: boolean; messages: Array<{ topic: string; payload: string }> }> {
  const messages: Array<{ topic: string; payload: string }> = [];
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId: id, username: id, password: secret, reconnectPeriod: 0, protocolVersion: 4, ...opts });
    client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
    client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent, messages }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** What Aedes keeps but does not declare in its typings: connected clients and its persistence. */
interface AedesInside {
  clients: Record<string, unknown>;
  persistence: {
    outgoingStream(client: { id: string }): AsyncIterable<unknown>;
    createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer }>;
  };
}
const inside = (t: TestGateway) => t.gateway.broker.aedes as unknown as AedesInside;

async function analytics(t: TestGateway, id: string): Promise<MqttClient> {
  const { secret } = await t.gateway.registry.addConsumer(id, 'analytics');
  return connect(t.mqttUrl, id, secret);
}

before(async () => {
  redis = await startTestRedis();
  shared = await mkdtemp(join(tmpdir(), 'ug-cluster-'));
  const overrides = {
    cluster: { redisUrl: redis.url, prefix: `t${process.pid}` },
    registry: { path: join(shared, 'registry.json') },
    stats: { intervalS: 0 }, // only readings are written, so points written count readings
    auth: { anonymous: true }, // for the retained-message check over MQTT (anon/#)
  };
  a = await startTestGateway({ overrides });
  b = await startTestGateway({ overrides, influxUrl: a.config.influx.url, database: a.database });
});

after(async () => {
  await b?.stop();
  await a?.stop();
  await redis?.stop();
  if (shared) await rm(shared, { recursive: true, force: true });
});

describe('cluster mode (two instances, one Redis)', () => {
  it('each instance has its own spool, and both report ready', async () => {
    assert.notEqual(a.config.spool.dir, b.config.spool.dir);
    for (const t of [a, b]) {
      const res = await fetch(`${t.httpUrl}/readyz`);
      assert.equal(res.status, 200, await res.text());
    }
  });

  it('a consumer subscribed on B receives a trigger that analytics publishes on A', async () => {
    const c = await a.addConsumer('cluster-marketing');
    const consumer = await connect(b.mqttUrl, c.id, c.secret);
    await consumer.subscribeAsync('triggers/#', { qos: 1 });
    const got = nextMessage(consumer, 'triggers/upsell/washer-overloaded');
    const pub = await analytics(a, 'cluster-analytics-1');
    const trigger = JSON.stringify({ id: 'trg-1', ruleId: 'washer-overloaded', deviceId: 'w-1' });
    await pub.publishAsync('triggers/upsell/washer-overloaded', trigger, { qos: 1 });
    assert.equal((await got).toString(), trigger);
    await close(pub);
    await close(consumer);
  });

  it('readings published to A and to B are ingested once, by the instance the device is on', async () => {
    const da = await a.addDevice({ kind: 'washer' });
    const db = await a.addDevice({ kind: 'washer' }); // registered through A, read by B from the shared file
    const inA = await counter(a, 'readingsIn');
    const inB = await counter(b, 'readingsIn');
    const wroteA = await counter(a, 'pointsWritten');
    const wroteB = await counter(b, 'pointsWritten');
    const n = 20;
    const base = Date.now() - 120_000;
    const ca = await connect(a.mqttUrl, da.id, da.secret);
    const cb = await connect(b.mqttUrl, db.id, db.secret);
    for (let i = 0; i < n; i++) {
      await ca.publishAsync(`devices/${da.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + i * 1000, seq: i })), { qos: 1 });
      await cb.publishAsync(`devices/${db.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + i * 1000, seq: i })), { qos: 1 });
    }
    await close(ca);
    await close(cb);
    assert.equal(await a.waitForCount('washer_cycle', n, { where: `device_id = '${da.id}'` }), n);
    assert.equal(await a.waitForCount('washer_cycle', n, { where: `device_id = '${db.id}'` }), n);
    await until(async () => (await counter(a, 'pointsWritten')) - wroteA >= n && (await counter(b, 'pointsWritten')) - wroteB >= n, 'both writers to catch up');
    // Idempotent points would hide a second write in InfluxDB; the counters would not.
    assert.equal((await counter(a, 'readingsIn')) - inA, n, 'A ingested its own device only');
    assert.equal((await counter(b, 'readingsIn')) - inB, n, 'B ingested its own device only');
    assert.equal((await counter(a, 'pointsWritten')) - wroteA, n, 'A wrote each reading once');
    assert.equal((await counter(b, 'pointsWritten')) - wroteB, n, 'B wrote each reading once');
    assert.equal(await a.count('washer_cycle', `device_id = '${da.id}' OR device_id = '${db.id}'`), 2 * n);
  });

  it('readings do not cross Redis (no client may receive them); a rejection notice, which its device may, does', async () => {
    const d = await a.addDevice({ kind: 'washer' });
    const watcher = new Redis(redis.url);
    const channels: string[] = [];
    watcher.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer) => channels.push(channel.toString()));
    await watcher.psubscribe(`t${process.pid}/devices/*`);
    try {
      const dev = await connect(a.mqttUrl, d.id, d.secret);
      await dev.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ seq: 1 })), { qos: 1 });
      await dev.publishAsync(`devices/${d.id}/events`, JSON.stringify({ type: 'error', code: 'E21', severity: 'warning', detail: 'drain pump slow' }), { qos: 1 });
      // Sent after both PUBACKs, on the same Redis connection: when its notice is seen, a
      // reading routed through Redis would have been seen before it.
      await dev.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ spin_rpm: 9000 })), { qos: 1 });
      await until(() => channels.includes(`t${process.pid}/devices/${d.id}/rejected`), 'the rejection notice on Redis');
      await close(dev);
      assert.deepEqual(channels.filter((c) => !c.endsWith('/rejected')), [], 'no reading on Redis');
      assert.equal(await a.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1);
    } finally {
      watcher.disconnect();
    }
  });

  it('a persistent consumer session left on A gets, on B, the trigger published while it was away', async () => {
    const c = await a.addConsumer('cluster-service');
    const first = await connect(a.mqttUrl, c.id, c.secret, { clean: false });
    await first.subscribeAsync('triggers/service/#', { qos: 1 });
    await close(first);
    await until(() => inside(a).clients[c.id] === undefined, 'A to let the consumer go');
    const pub = await analytics(a, 'cluster-analytics-2');
    const trigger = JSON.stringify({ id: 'trg-2', ruleId: 'recurring-error', deviceId: 'w-2' });
    await pub.publishAsync('triggers/service/recurring-error', trigger, { qos: 1 });
    await close(pub);
    // PUBACK comes before the broker queues the message; wait for it to be queued in Redis.
    const persistence = inside(b).persistence;
    await until(async () => {
      let n = 0;
      for await (const _ of persistence.outgoingStream({ id: c.id })) n++;
      return n === 1;
    }, 'the trigger to be queued for the absent session');
    const { client: back, sessionPresent, messages } = await connectCollecting(b.mqttUrl, c.id, c.secret, { clean: false });
    assert.equal(sessionPresent, true, 'B knows the session A held');
    await until(() => messages.length >= 1, 'the queued trigger on B');
    assert.deepEqual(messages[0], { topic: 'triggers/service/recurring-error', payload: trigger });
    await close(back);
  });

  it('a retained device status set via A is in the retained store B serves', async () => {
    // No identity may subscribe to devices/{id}/status (topic rules), so B's side is read from
    // the retained store that B itself answers new subscriptions from.
    const d = await a.addDevice({ kind: 'fridge' });
    const dev = await connect(a.mqttUrl, d.id, d.secret);
    await dev.publishAsync(`devices/${d.id}/status`, 'online', { qos: 1, retain: true });
    await close(dev);
    const persistence = inside(b).persistence;
    const seen: string[] = [];
    await until(async () => {
      seen.length = 0;
      for await (const p of persistence.createRetainedStream(`devices/${d.id}/status`)) seen.push(`${p.topic}=${p.payload.toString()}`);
      return seen.length > 0;
    }, 'the retained status on B');
    assert.deepEqual(seen, [`devices/${d.id}/status=online`]);
  });

  it('a retained message published on A reaches a new subscriber on B over MQTT', async () => {
    const pub = await connect(a.mqttUrl, `anon-pub-${process.pid}`, undefined);
    await pub.publishAsync('anon/cluster/state', 'green', { qos: 1, retain: true });
    await close(pub);
    const sub = await connect(b.mqttUrl, `anon-sub-${process.pid}`, undefined);
    const got = nextMessage(sub, 'anon/cluster/state');
    await sub.subscribeAsync('anon/cluster/#', { qos: 1 });
    assert.equal((await got).toString(), 'green');
    await close(sub);
  });

  it('a device that reconnects to B while its old connection to A is open takes its id over', async () => {
    const d = await a.addDevice();
    const onA = await connect(a.mqttUrl, d.id, d.secret);
    const gone = closed(onA);
    const onB = await connect(b.mqttUrl, d.id, d.secret);
    await gone;
    onA.end(true);
    assert.ok(onB.connected);
    await close(onB);
  });

  // Last: it takes Redis away from the instances above.
  it('with Redis lost both instances report not ready, and routing resumes when it is back', async () => {
    const ready = async (t: TestGateway) => (await fetch(`${t.httpUrl}/readyz`)).status;
    await redis.kill();
    for (const t of [a, b]) await until(async () => (await ready(t)) === 503, 'not ready without Redis');
    assert.match(await (await fetch(`${a.httpUrl}/readyz`)).text(), /Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable/);
    await redis.restart();
    for (const t of [a, b]) await until(async () => (await ready(t)) === 200, 'ready again', 20_000);
    const c = await a.addConsumer('cluster-after-outage');
    const consumer = await connect(b.mqttUrl, c.id, c.secret);
    await consumer.subscribeAsync('triggers/#', { qos: 1 });
    const got = nextMessage(consumer, 'triggers/retention/usage-collapse');
    const pub = await analytics(a, 'cluster-analytics-3');
    await pub.publishAsync('triggers/retention/usage-collapse', 'after', { qos: 1 });
    assert.equal((await got).toString(), 'after');
    await close(pub);
    await close(consumer);
  });
});

describe('cluster mode without Redis', () => {
  it('the gateway refuses to start, saying where Redis was looked for', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ug-cluster-down-'));
    const port = await freePort(); // nothing listens there
    try {
      const r = await runCli(['gateway'], {
        UG_DATA_DIR: dir, UG_MQTT_PORT: '0', UG_HTTP_PORT: '0', UG_MQTT_HOST: '127.0.0.1', UG_HTTP_HOST: '127.0.0.1',
        UG_INFLUX_URL: a.config.influx.url, UG_STATS_INTERVAL_S: '0', UG_LOG_LEVEL: 'silent',
        UG_CLUSTER_REDIS_URL: `redis://:not-shown@127.0.0.1:${port}/0`,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /GW_ERR_REDIS_UNAVAILABLE/);
      assert.match(r.stderr, new RegExp(`redis://127\\.0\\.0\\.1:${port}/0`));
      assert.doesNotMatch(r.stderr, /not-shown/, 'the password stays out of the message');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
