import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as rawConnect } from 'node:net';
import mqtt from 'mqtt';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import mqttPacket from 'mqtt-packet';
import { hashSecret } from '../../core/registry/index.ts';
import { storedHash, writeScryptEra } from '../../test/harness/secrets.ts';
import { close, closed, connect, grantedQos, mosquittoPub, mosquittoSub, washerCycle } from '../../test/harness/mqtt.ts';

let t: TestGateway;
before(async () => { t = await startTestGateway(); });
after(async () => { await t.stop(); });

describe('authentication', () => {
  it('refuses a wrong secret and an unknown device with CONNACK "not authorized"', async () => {
    const d = await t.addDevice();
    await assert.rejects(connect(t.mqttUrl, d.id, 'not-the-secret'), (err: any) => err.code === 4 || err.code === 5);
    await assert.rejects(connect(t.mqttUrl, 'no-such-device', d.secret), (err: any) => err.code === 4 || err.code === 5);
    const ok = await connect(t.mqttUrl, d.id, d.secret);
    await close(ok);
  });

  it('a device registered with a scrypt hash (an older registry) connects over MQTT, and its entry is then stored in the fast form', async () => {
    const d = await t.addDevice();
    const path = t.config.registry.path;
    await writeScryptEra(path, new Map([[d.id, d.secret]]));
    assert.match((await storedHash(path, d.id))!, /^scrypt\$/);
    await assert.rejects(connect(t.mqttUrl, d.id, 'not-the-secret'), (err: any) => err.code === 4 || err.code === 5);
    const ok = await connect(t.mqttUrl, d.id, d.secret);
    await t.gateway.registry.flushRehash();
    assert.equal(await storedHash(path, d.id), hashSecret(d.secret));
    // The new hash is not a rotated secret: the connection stays open and its readings are taken.
    await ok.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle()), { qos: 1 });
    assert.equal(ok.connected, true);
    await close(ok);
    await close(await connect(t.mqttUrl, d.id, d.secret));
  });

  it('refuses a connection without credentials', async () => {
    await assert.rejects(connect(t.mqttUrl, 'anon-1', undefined), (err: any) => err.code === 4 || err.code === 5);
  });

  it('refuses a client id that is not the device id', async () => {
    const d = await t.addDevice();
    await assert.rejects(connect(t.mqttUrl, `${d.id}-other`, d.secret, { username: d.id }), (err: any) => err.code === 2);
  });

  it('refuses an empty client id with a persistent session [MQTT-3.1.3-8]', async () => {
    // mqtt.js will not send this CONNECT, so it is written by hand.
    const d = await t.addDevice();
    const sock = rawConnect(t.mqttPort, '127.0.0.1');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const connack = new Promise<any>((resolve) => parser.on('packet', resolve));
    sock.on('data', (b) => parser.parse(b));
    const str = (v: string) => { const b = Buffer.from(v); return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]); };
    // protocol name, level 4, flags: username + password, clean session 0; keep-alive 30 s
    const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc0, 0, 30]), str(''), str(d.id), str(d.secret)]);
    sock.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
    const packet = await connack;
    assert.equal(packet.cmd, 'connack');
    assert.equal(packet.returnCode, 2, 'identifier rejected');
    sock.destroy();
  });
});

describe('authorization', () => {
  it("a device publishing to another device's topic is disconnected and nothing is stored", async () => {
    const a = await t.addDevice();
    const b = await t.addDevice();
    const client = await connect(t.mqttUrl, a.id, a.secret);
    const gone = closed(client);
    client.publish(`devices/${b.id}/telemetry`, JSON.stringify(washerCycle()), { qos: 1 });
    await gone;
    client.end(true);
    const r = await mosquittoPub(t.mqttPort, a.id, a.secret, `devices/${b.id}/telemetry`, JSON.stringify(washerCycle()));
    assert.notEqual(r.code, 0, 'mosquitto_pub sees the refusal');
    assert.equal(await t.count('washer_cycle', `device_id = '${b.id}'`), 0);
  });

  it('publishing to $SYS closes the connection', async () => {
    const d = await t.addDevice();
    const client = await connect(t.mqttUrl, d.id, d.secret);
    const gone = closed(client);
    client.publish('$SYS/broker/takeover', 'x', { qos: 1 });
    await gone;
    client.end(true);
  });

  it('retain is refused on telemetry but allowed on status', async () => {
    const d = await t.addDevice();
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.publishAsync(`devices/${d.id}/status`, 'online', { qos: 1, retain: true });
    assert.ok(client.connected);
    const gone = closed(client);
    client.publish(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle()), { qos: 1, retain: true });
    await gone;
    client.end(true);
  });

  it("subscribing to #, to another device's topics or to raw telemetry is refused (SUBACK 0x80); own rejected and commands are granted", async () => {
    const a = await t.addDevice();
    const b = await t.addDevice();
    const client = await connect(t.mqttUrl, a.id, a.secret);
    const granted = await grantedQos(client, [
      '#', `devices/${b.id}/rejected`, `devices/${b.id}/commands/#`, 'devices/+/telemetry', `devices/${a.id}/telemetry`,
      `devices/${a.id}/rejected`, `devices/${a.id}/commands/#`,
    ]);
    assert.deepEqual(granted, [128, 128, 128, 128, 128, 1, 1]);
    assert.ok(client.connected, 'a refused subscription does not disconnect');
    await close(client);
  });

  it('mosquitto_sub on # is told the subscription was denied', async () => {
    const d = await t.addDevice();
    const r = await mosquittoSub(t.mqttPort, d.id, d.secret, '#', ['-C', '1']);
    assert.match(r.stderr + r.stdout, /denied/i);
  });

  it('a consumer may subscribe to triggers/# and receives triggers, but not devices/+/telemetry', async () => {
    const c = await t.addConsumer('marketing-tool');
    const d = await t.addDevice();
    const client = await connect(t.mqttUrl, c.id, c.secret);
    assert.deepEqual(await grantedQos(client, ['triggers/#', 'devices/+/telemetry', '#']), [1, 128, 128]);
    const telemetry: string[] = [];
    client.on('message', (topic) => telemetry.push(topic));
    await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/telemetry`, JSON.stringify(washerCycle()));
    await t.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` });
    const got = new Promise<string>((resolve) => client.once('message', (topic) => resolve(topic)));
    t.gateway.broker.aedes.publish({ cmd: 'publish', topic: 'triggers/upsell/washer-overloaded', payload: Buffer.from('{}'), qos: 1, retain: false, dup: false }, () => {});
    assert.equal(await got, 'triggers/upsell/washer-overloaded');
    assert.deepEqual(telemetry.filter((x) => x.startsWith('devices/')), []);
    // A consumer may not publish.
    const gone = closed(client);
    client.publish('triggers/upsell/fake', '{}', { qos: 1 });
    await gone;
    client.end(true);
  });
});

describe('limits', () => {
  it('a PUBLISH announcing more than the limit closes the connection before its body is read', async () => {
    const d = await t.addDevice();
    const client = await connect(t.mqttUrl, d.id, d.secret);
    const gone = closed(client);
    client.publish(`devices/${d.id}/telemetry`, Buffer.alloc(300 * 1024, 0x20), { qos: 1 });
    await gone;
    client.end(true);
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    assert.match(metrics, /ug_packets_too_large_total 1/);
  });

  it('connections are capped per address', async () => {
    const small = await startTestGateway({ overrides: { mqtt: { maxConnectionsPerIp: 2 } } });
    try {
      const d = await small.addDevice();
      const e = await small.addDevice();
      const socks = [rawConnect(small.mqttPort, '127.0.0.1'), rawConnect(small.mqttPort, '127.0.0.1')];
      await Promise.all(socks.map((s) => new Promise((r) => s.once('connect', r))));
      await assert.rejects(connect(small.mqttUrl, d.id, d.secret, { connectTimeout: 3_000 }));
      for (const s of socks) s.destroy();
      // Once the others are gone the address may connect again.
      const deadline = Date.now() + 5_000;
      let ok: mqtt.MqttClient | undefined;
      while (!ok && Date.now() < deadline) ok = await connect(small.mqttUrl, e.id, e.secret).catch(() => undefined);
      assert.ok(ok, 'connects once the others closed');
      await close(ok!);
    } finally {
      await small.stop();
    }
  });
});
