import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { scrapeMetrics } from '../../test/harness/durability.ts';
import { close, connect, grantedQos, washerCycle } from '../../test/harness/mqtt.ts';
import { RawMqtt } from '../../test/harness/raw-mqtt.ts';
import { connectPacket, subscribePacket } from '../../test/harness/mqtt-wire.ts';
import { startTestRedis, type TestRedis } from '../../test/harness/redis.ts';

/** What Aedes keeps but does not declare in its typings: its persistence. */
interface Persistence {
  subscriptionsByClient(client: { id: string }): Promise<Array<{ topic: string; qos: number }>>;
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
}
const persistence = (t: TestGateway) => (t.gateway.broker.aedes as unknown as { persistence: Persistence }).persistence;

async function queued(t: TestGateway, id: string): Promise<number> {
  let n = 0;
  for await (const _ of persistence(t).outgoingStream({ id })) n++;
  return n;
}

/** A device connected over a bare socket with a persistent session (clean=false). */
async function persistentRaw(t: TestGateway, d: { id: string; secret: string }): Promise<RawMqtt> {
  const raw = await RawMqtt.open(t.mqttPort);
  raw.send(connectPacket({ clientId: d.id, username: d.id, password: d.secret, clean: false }));
  const connack = await raw.next();
  assert.ok(connack !== 'closed' && connack.cmd === 'connack' && connack.returnCode === 0, 'connected');
  return raw;
}

describe('SUBSCRIBE limits (in-process gateway)', () => {
  let t: TestGateway;
  before(async () => { t = await startTestGateway({ captureLogs: true }); });
  after(async () => { await t.stop(); });

  it('a SUBSCRIBE with more filters than one packet may carry closes the connection before any filter is looked at or stored', async () => {
    const d = await t.addDevice();
    const cap = t.config.mqtt.maxFiltersPerSubscribe;
    // Filters the device is allowed, so that only their number refuses them. 2,000 of them on a
    // persistent session held Aedes' event loop for seconds (storing grows with the square of
    // the count), and every device and /healthz with it.
    for (const n of [2_000, cap + 1]) {
      const raw = await persistentRaw(t, d);
      raw.send(subscribePacket(1, Array.from({ length: n }, (_, i) => `devices/${d.id}/commands/${i}`)));
      assert.equal(await raw.next(), 'closed', `${n} filters: the connection is closed, no SUBACK`);
      assert.deepEqual(await persistence(t).subscriptionsByClient({ id: d.id }), [], 'nothing of it is stored');
    }
    const m = await scrapeMetrics(t.httpUrl);
    assert.equal(m.get('ug_subscribe_limit_refusals_total{limit="filters-per-subscribe"}'), 2);
    const logged = t.logs.filter((l) => l.code === 'GW_ERR_SUBSCRIBE_LIMIT');
    assert.equal(logged.length, 1, 'logged once for the address in this interval');
    assert.equal(logged[0].limit, cap);

    // Exactly the limit is fine, and the device goes on as before.
    const raw = await persistentRaw(t, d);
    raw.send(subscribePacket(2, Array.from({ length: cap }, (_, i) => `devices/${d.id}/commands/x${i}`)));
    const suback = await raw.next();
    assert.ok(suback !== 'closed' && suback.cmd === 'suback');
    assert.equal(suback.granted.length, cap);
    raw.destroy();
  });

  it('beyond the subscriptions one client may hold, further filters get SUBACK 0x80; a repeated one and a freed place are granted', async () => {
    const d = await t.addDevice();
    const max = t.config.mqtt.maxSubscriptionsPerClient;
    const key = 'ug_subscribe_limit_refusals_total{limit="subscriptions-per-client"}';
    const before = (await scrapeMetrics(t.httpUrl)).get(key) ?? 0;
    const client = await connect(t.mqttUrl, d.id, d.secret, { clean: false });
    const own = Array.from({ length: max }, (_, i) => `devices/${d.id}/commands/${i}`);
    assert.deepEqual(await grantedQos(client, own.slice(0, max - 1)), own.slice(0, max - 1).map(() => 1));
    // One place left: the first new filter of the packet takes it, the next is refused; a filter
    // the client already holds does not count again.
    assert.deepEqual(await grantedQos(client, [own[max - 1], `devices/${d.id}/commands/over`, own[0]]), [1, 128, 1]);
    assert.ok(client.connected, 'a refused filter does not disconnect');
    await client.unsubscribeAsync(own[3]);
    assert.deepEqual(await grantedQos(client, [`devices/${d.id}/commands/over`]), [1]);
    const stored = (await persistence(t).subscriptionsByClient({ id: d.id })).map((s) => s.topic).sort();
    assert.equal(stored.length, max);
    assert.ok(!stored.includes(own[3]) && stored.includes(`devices/${d.id}/commands/over`));
    assert.equal((await scrapeMetrics(t.httpUrl)).get(key)! - before, 1, 'the refusal is counted');
    await close(client);
  });

  it('a refused filter of a persistent session is not stored: nothing is queued for it while the device is away', async () => {
    const a = await t.addDevice();
    const b = await t.addDevice();
    const client = await connect(t.mqttUrl, a.id, a.secret, { clean: false });
    // '#' and another device's telemetry are refused; the device's own rejected topic is granted.
    assert.deepEqual(await grantedQos(client, [`devices/${a.id}/rejected`, '#', `devices/${b.id}/telemetry`]), [1, 128, 128]);
    await close(client);
    assert.deepEqual((await persistence(t).subscriptionsByClient({ id: a.id })).map((s) => s.topic), [`devices/${a.id}/rejected`]);

    const other = await connect(t.mqttUrl, b.id, b.secret);
    for (let seq = 0; seq < 20; seq++) await other.publishAsync(`devices/${b.id}/telemetry`, JSON.stringify(washerCycle({ seq })), { qos: 1 });
    await close(other);
    assert.equal(await queued(t, a.id), 0, "nothing of the other device's traffic waits for the absent device");
  });
});

describe('SUBSCRIBE storage in cluster mode (Redis)', () => {
  let redis: TestRedis;
  let t: TestGateway;
  let r: Redis;
  before(async () => {
    redis = await startTestRedis();
    t = await startTestGateway({ overrides: { cluster: { redisUrl: redis.url } } });
    r = new Redis(redis.url);
  });
  after(async () => {
    r.disconnect();
    await t.stop();
    await redis.stop();
  });

  it("one SUBSCRIBE is stored with one write, holding only the granted filters", async () => {
    const d = await t.addDevice();
    const client = await connect(t.mqttUrl, d.id, d.secret, { clean: false });
    const stat = async () => Number(/cmdstat_hmset:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0);
    const before = await stat();
    const filters = [`devices/${d.id}/rejected`, '#', `devices/${d.id}/commands/a`, 'devices/+/telemetry', `devices/${d.id}/commands/b`];
    // Before each packet was stored once, this SUBACK never came: Aedes 1.2 stores the packet
    // once per granted filter, and those writes overlap.
    const suback = await Promise.race([grantedQos(client, filters), new Promise<'none'>((r) => setTimeout(() => r('none'), 10_000).unref())]);
    assert.deepEqual(suback, [1, 128, 1, 128, 1]);
    // Aedes 1.2 stores the whole packet once per granted filter: three writes of five filters here.
    assert.equal(await stat() - before, 1, 'one write to Redis for the packet');
    const stored = (await persistence(t).subscriptionsByClient({ id: d.id })).map((s) => s.topic).sort();
    assert.deepEqual(stored, [`devices/${d.id}/commands/a`, `devices/${d.id}/commands/b`, `devices/${d.id}/rejected`]);
    await close(client);
  });
});
