import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { createGateway } from '../index.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, closed, connect, grantedQos, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { until } from '../../test/harness/durability.ts';

// A self-signed certificate for localhost and 127.0.0.1, valid for a century: test use only.
const CERT = fileURLToPath(new URL('./fixtures/tls-cert.pem', import.meta.url));
const KEY = fileURLToPath(new URL('./fixtures/tls-key.pem', import.meta.url));

let t: TestGateway;
let mqtts: string;
let ws: string;
before(async () => {
  t = await startTestGateway({ overrides: { mqtt: { tlsPort: 0, tlsCert: CERT, tlsKey: KEY, wsPort: 0 }, auth: { anonymous: true } } });
  const a = t.gateway.addresses!;
  mqtts = `mqtts://127.0.0.1:${a.mqtts}`;
  ws = `ws://127.0.0.1:${a.ws}/mqtt`;
});
after(async () => { await t.stop(); });

describe('TLS and WebSocket listeners', () => {
  it('a device publishing over TLS (certificate checked by the client) lands in InfluxDB; a wrong secret is refused there too', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const tls = { ca: readFileSync(CERT), rejectUnauthorized: true };
    await assert.rejects(connect(mqtts, d.id, 'wrong', tls), (err: any) => err.code === 4 || err.code === 5);
    const client = await connect(mqtts, d.id, d.secret, tls);
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ seq: 1, ts: Date.now() - 1_000 })), { qos: 1 });
    await close(client);
    assert.equal(await t.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1);
  });

  it('a device publishing over WebSocket lands in InfluxDB and gets its rejected notices there', async () => {
    const d = await t.addDevice({ kind: 'fridge' });
    const client = await connect(ws, d.id, d.secret);
    await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    const notice = nextMessage(client, `devices/${d.id}/rejected`);
    const good = { type: 'state', temp_c: 5, freezer_temp_c: -18, door_openings: 2, door_open_s: 10, compressor_duty: 0.3, energy_kwh: 0.04 };
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify([good, { ...good, compressor_duty: 1.5 }]), { qos: 1 });
    const n = JSON.parse((await notice).toString());
    assert.equal(n.code, 'GW_ERR_INVALID_READING');
    assert.equal(n.errors[0].field, 'compressor_duty');
    assert.equal(n.accepted, 1);
    await close(client);
    assert.equal(await t.waitForCount('fridge_state', 1, { where: `device_id = '${d.id}'` }), 1);
  });

  it('a packet over the limit on WebSocket closes that connection', async () => {
    const d = await t.addDevice();
    const client = await connect(ws, d.id, d.secret);
    const gone = closed(client);
    client.publish(`devices/${d.id}/telemetry`, Buffer.alloc(t.config.mqtt.maxPayloadBytes + 64 * 1024, 0x20), { qos: 1 });
    await gone;
    client.end(true);
  });

  it('a listener that cannot start fails the start with GW_ERR_CONFIG and leaves nothing running', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ug-listen-'));
    const settings = (mqtt: Record<string, unknown>) => loadConfig({
      env: {},
      overrides: { dataDir: dir, mqtt: { host: '127.0.0.1', port: 0, ...mqtt }, http: { host: '127.0.0.1', port: 0 }, influx: { url: t.config.influx.url, database: t.database }, stats: { intervalS: 0 } },
    });
    const first = createGateway(settings({ tlsPort: 0, tlsCert: '/no/such/cert.pem', tlsKey: KEY }), { log: t.gateway.log });
    await assert.rejects(first.start(), (err: unknown) => err instanceof UsageGatewayError && err.code === 'GW_ERR_CONFIG' && /mqtt\.tlsCert: cannot read \/no\/such\/cert\.pem/.test(err.message));
    const second = createGateway(settings({ port: t.mqttPort }), { log: t.gateway.log });
    await assert.rejects(second.start(), (err: unknown) => err instanceof UsageGatewayError && err.code === 'GW_ERR_CONFIG' && /mqtt\.port: cannot listen .*EADDRINUSE/.test(err.message));
    assert.deepEqual(second.notReady(), ['gateway is stopped']);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('anonymous mode (auth.anonymous, for MQTT interoperability suites)', () => {
  it('an anonymous client may publish and subscribe outside devices/ and triggers/, retained messages included', async () => {
    const a = await connect(t.mqttUrl, 'interop-a', undefined);
    const b = await connect(ws, 'interop-b', undefined);
    assert.deepEqual(await grantedQos(b, ['TopicA/#', '+/C', '#'], 1), [1, 1, 1]);
    const got = nextMessage(b, 'TopicA/B');
    await a.publishAsync('TopicA/B', 'hello', { qos: 1 });
    assert.equal((await got).toString(), 'hello');
    await a.publishAsync('TopicA/retained', 'kept', { qos: 1, retain: true });
    const c = await connect(t.mqttUrl, 'interop-c', undefined);
    const retained = nextMessage(c, 'TopicA/retained');
    await c.subscribeAsync('TopicA/retained', { qos: 1 });
    assert.equal((await retained).toString(), 'kept');
    for (const x of [a, b, c]) await close(x);
  });

  it('sees nothing of devices even when subscribed to #, and may not publish or subscribe under devices/ or triggers/', async () => {
    const d = await t.addDevice();
    const anon = await connect(t.mqttUrl, 'interop-d', undefined);
    assert.deepEqual(await grantedQos(anon, ['#', 'devices/+/telemetry', `devices/${d.id}/status`, 'triggers/#']), [1, 128, 128, 128]);
    const seen: string[] = [];
    anon.on('message', (topic) => seen.push(topic));
    const device = await connect(t.mqttUrl, d.id, d.secret);
    await device.publishAsync(`devices/${d.id}/status`, 'online', { qos: 1, retain: true });
    await device.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle()), { qos: 1 });
    await device.publishAsync(`devices/${d.id}/telemetry`, 'not json', { qos: 1 });
    t.gateway.broker.aedes.publish({ cmd: 'publish', topic: 'triggers/upsell/washer-overloaded', payload: Buffer.from('{}'), qos: 1, retain: false, dup: false }, () => {});
    // A marker sent after all of the above: once it arrives, anything forwarded would have too.
    const marker = nextMessage(anon, 'TopicA/marker');
    const other = await connect(t.mqttUrl, 'interop-e', undefined);
    await other.publishAsync('TopicA/marker', 'x', { qos: 1 });
    await marker;
    assert.deepEqual(seen.filter((s) => !s.startsWith('TopicA/') && !s.startsWith('$SYS/')), []);
    await close(other);
    await close(device);

    const gone = closed(anon);
    anon.publish(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle()), { qos: 1 });
    await gone;
    anon.end(true);
    const again = await connect(t.mqttUrl, 'interop-f', undefined);
    const gone2 = closed(again);
    again.publish('triggers/upsell/fake', '{}', { qos: 1 });
    await gone2;
    again.end(true);
  });

  it('subscribed to $SYS/#, learns nothing of devices: no connects, disconnects or subscriptions that name them', async () => {
    const d = await t.addDevice();
    const anon = await connect(t.mqttUrl, 'interop-sys', undefined);
    assert.deepEqual(await grantedQos(anon, ['$SYS/#']), [1]);
    const seen: Array<{ topic: string; payload: string }> = [];
    anon.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    const device = await connect(t.mqttUrl, d.id, d.secret);
    await device.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    await device.unsubscribeAsync(`devices/${d.id}/rejected`);
    await close(device);
    const aedes = t.gateway.broker.aedes as unknown as { clients: Record<string, unknown> };
    await until(() => !aedes.clients[d.id], 'the device to be gone from the broker');
    // A broker heartbeat after all of the above, as Aedes sends one a minute: it reaches the
    // client, and once it has, anything forwarded before it would have too.
    const heartbeat = `$SYS/${t.gateway.broker.aedes.id}/heartbeat`;
    const marker = nextMessage(anon, heartbeat);
    t.gateway.broker.aedes.publish({ cmd: 'publish', topic: heartbeat, payload: Buffer.from(t.gateway.broker.aedes.id), qos: 0, retain: false, dup: false }, () => {});
    await marker;
    const leaked = seen.filter((m) => m.topic.startsWith('$SYS/') && (m.payload.includes(d.id) || /\/(new|disconnect)\//.test(m.topic)));
    assert.deepEqual(leaked, []);
    await close(anon);
  });

  it('credentials are still checked: a device id with a wrong secret is refused, not let in anonymously', async () => {
    const d = await t.addDevice();
    await assert.rejects(connect(t.mqttUrl, d.id, 'wrong'), (err: any) => err.code === 4 || err.code === 5);
  });
});

describe('the listen backlog (mqtt.listenBacklog)', () => {
  /**
   * Opens `n` TCP connections to `port` from a child process while this process, which runs the
   * gateway, is blocked in execFileSync: nothing is accepted meanwhile, so what connects is
   * what the kernel's accept queue holds. The rest have their SYN dropped and would retry after
   * 1 s, 3 s, 7 s… (the child gives up after 1.5 s, before any retry could be let in).
   */
  const connectedWhileBlocked = (port: number, n: number): number => {
    const child = `
      const net = require('node:net');
      let connected = 0, settled = 0;
      const done = () => { process.stdout.write(String(connected)); process.exit(0); };
      setTimeout(done, 1500);
      for (let i = 0; i < ${n}; i++) {
        const s = net.connect(${port}, '127.0.0.1');
        s.on('connect', () => { connected++; if (++settled === ${n}) done(); });
        s.on('error', () => { if (++settled === ${n}) done(); });
      }`;
    return Number(execFileSync(process.execPath, ['-e', child], { encoding: 'utf8' }));
  };

  it('a burst of connections the gateway cannot accept at once waits in the kernel, none dropped, where a small backlog drops them', async () => {
    const storm = 64;
    // The default backlog (4,096) holds the whole burst.
    const wide = await startTestGateway({ overrides: { auth: { anonymous: true } } });
    try {
      assert.equal(wide.config.mqtt.listenBacklog, 4096);
      assert.equal(connectedWhileBlocked(wide.mqttPort, storm), storm);
    } finally {
      await wide.stop(true);
    }
    // A backlog of 4 (Node's own default is 511) holds about that many; the others' SYNs are dropped.
    const narrow = await startTestGateway({ overrides: { auth: { anonymous: true }, mqtt: { listenBacklog: 4 } } });
    try {
      const n = connectedWhileBlocked(narrow.mqttPort, storm);
      assert.ok(n < storm / 2, `with a backlog of 4, ${n} of ${storm} connections got through while nothing was accepted`);
    } finally {
      await narrow.stop(true);
    }
  });
});
