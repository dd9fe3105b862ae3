import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as rawConnect, type Socket } from 'node:net';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { listDeadLetters } from '../deadletter/index.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli, startGatewayProcess } from '../../test/harness/process.ts';
import { processEnv } from '../../test/harness/process-env.ts';
import { remainingLength } from '../../test/harness/mqtt-wire.ts';

const MiB = 1024 * 1024;

/** Opens a raw TCP connection and sends CONNECT; resolves once CONNACK arrived. */
async function rawMqtt(port: number, fields: Record<string, unknown>): Promise<{ sock: Socket; connack: any }> {
  const sock = rawConnect(port, '127.0.0.1');
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connack = new Promise<any>((resolve, reject) => {
    parser.once('packet', resolve);
    sock.once('close', () => reject(new Error('closed before CONNACK')));
  });
  sock.on('data', (b) => parser.parse(b));
  sock.on('error', () => {}); // the gateway may reset the connection; 'close' tells the test
  sock.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, ...fields } as mqttPacket.IConnectPacket));
  return { sock, connack: await connack };
}

describe('a 10 MiB PUBLISH to the gateway process', () => {
  it('is refused from its header: the connection closes, memory stays flat, the device is told on reconnect and can go on', async () => {
    const p = await processEnv();
    const gw = await startGatewayProcess(p.env);
    try {
      const add = await runCli(['devices', 'add', 'washer-big-1', '--kind', 'washer', '--model', 'WM-8', '--owner', 'o-1'], p.env);
      assert.equal(add.code, 0, add.stderr);
      const { id, secret } = JSON.parse(add.stdout) as { id: string; secret: string };
      const url = `mqtt://127.0.0.1:${gw.mqttPort}`;

      // A persistent session subscribed to its rejected topic, and the code paths warmed up.
      const first = await connect(url, id, secret, { clean: false });
      await first.subscribeAsync(`devices/${id}/rejected`, { qos: 1 });
      await first.publishAsync(`devices/${id}/telemetry`, JSON.stringify(washerCycle({ seq: 1 })), { qos: 1 });
      await close(first);

      // Peak RSS is reset to the current RSS where the kernel allows it (Linux ≥ 4.0), so any
      // buffering of the packet would show as growth, whatever the earlier peak was.
      try {
        writeFileSync(`/proc/${gw.pid}/clear_refs`, '5');
      } catch {
        // without the reset the earlier peak can hide growth below it; the check still holds
      }
      const mem0 = gw.memory();

      const { sock, connack } = await rawMqtt(gw.mqttPort, { clientId: id, username: id, password: Buffer.from(secret), clean: false });
      assert.equal(connack.returnCode, 0);
      const size = 10 * MiB;
      const topic = Buffer.from(`devices/${id}/telemetry`);
      const header = Buffer.concat([
        Buffer.from([0x32]), Buffer.from(remainingLength(2 + topic.length + 2 + size)), // PUBLISH, QoS 1
        Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, Buffer.from([0, 7]),
      ]);
      const gone = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      let offered = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = async () => {
        sock.write(header);
        while (offered < size && !sock.destroyed) {
          offered += chunk.length;
          if (!sock.write(chunk)) await Promise.race([new Promise((r) => sock.once('drain', r)), gone]);
        }
      };
      await Promise.all([pump(), gone]);
      assert.ok(sock.bytesWritten < header.length + size, `the gateway closed the connection before the packet's end (${sock.bytesWritten} of ${header.length + size} bytes sent)`);

      const mem1 = gw.memory();
      const grewBy = mem1.peak - mem0.peak;
      assert.ok(grewBy < 3 * MiB, `peak RSS grew by ${(grewBy / MiB).toFixed(2)} MiB (from ${(mem0.peak / MiB).toFixed(1)} to ${(mem1.peak / MiB).toFixed(1)} MiB)`);

      const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
      assert.match(metrics, /^ug_packets_too_large_total 1$/m);
      const logged = gw.logs.find((l) => l.code === 'GW_ERR_PACKET_TOO_LARGE');
      assert.ok(logged, 'the refusal is logged with its code');
      assert.equal(logged!.announced, 2 + topic.length + 2 + size);

      // On its next connection the device learns why, and its readings are taken as before.
      // Listening before CONNACK: queued messages follow it at once.
      const again = mqtt.connect(url, { clientId: id, username: id, password: secret, clean: false, reconnectPeriod: 0, protocolVersion: 4 });
      const delivered = nextMessage(again, `devices/${id}/rejected`);
      await new Promise((resolve, reject) => again.once('connect', resolve).once('error', reject));
      const notice = JSON.parse((await delivered).toString());
      assert.equal(notice.code, 'GW_ERR_PACKET_TOO_LARGE');
      assert.match(notice.errors[0].reason, /10485\d\d\d bytes was announced/);
      await again.publishAsync(`devices/${id}/telemetry`, JSON.stringify(washerCycle({ seq: 2 })), { qos: 1 });
      await close(again);
      const status = await (await fetch(`http://127.0.0.1:${gw.httpPort}/status`)).json() as { readings: { received: number } };
      assert.equal(status.readings.received, 2);
    } finally {
      await gw.kill();
      await p.cleanup();
    }
  });
});

describe('message limits (in-process gateway)', () => {
  let t: TestGateway;
  before(async () => { t = await startTestGateway({ overrides: { mqtt: { connectTimeoutMs: 500, keepaliveLimitS: 600 } } }); });
  after(async () => { await t.stop(); });

  /** Publishes one message and returns the notice the device got on its rejected topic. */
  async function refusal(payload: string | Buffer, kind = 'washer'): Promise<{ notice: any; deviceId: string; connected: boolean }> {
    const d = await t.addDevice({ kind });
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    const notice = nextMessage(client, `devices/${d.id}/rejected`);
    await client.publishAsync(`devices/${d.id}/telemetry`, payload, { qos: 1 });
    const n = JSON.parse((await notice).toString());
    const connected = client.connected;
    await close(client);
    return { notice: n, deviceId: d.id, connected };
  }

  it('a payload over the payload limit but within the packet guard is refused by ingest with a notice, and dead-lettered', async () => {
    const limit = t.config.mqtt.maxPayloadBytes;
    const { notice, deviceId, connected } = await refusal(Buffer.alloc(limit + 100, 0x20));
    assert.equal(notice.code, 'GW_ERR_PAYLOAD_TOO_LARGE');
    assert.equal(notice.accepted, 0);
    assert.match(notice.errors[0].reason, new RegExp(`${limit + 100} bytes is over the limit of ${limit}`));
    assert.ok(connected, 'the device is not disconnected');
    const dead = await listDeadLetters(t.config.deadletter.dir, { deviceId });
    assert.equal(dead.length, 1);
    assert.equal(dead[0].code, 'GW_ERR_PAYLOAD_TOO_LARGE');
  });

  it('an array of 1001 readings is refused whole; nothing of it is stored', async () => {
    const now = Date.now();
    const batch = Array.from({ length: 1001 }, (_, i) => washerCycle({ ts: now - 10_000 + i, seq: i }));
    const { notice, deviceId } = await refusal(JSON.stringify(batch));
    assert.equal(notice.code, 'GW_ERR_TOO_MANY_READINGS');
    assert.equal(notice.errors[0].received, 1001);
    assert.equal(notice.errors[0].expected, '<=1000');
    await t.gateway.spool.waitForSpace();
    assert.equal(await t.count('washer_cycle', `device_id = '${deviceId}'`), 0);
  });

  it('an empty array and a payload that is not a reading are refused with their own codes', async () => {
    assert.equal((await refusal('[]')).notice.code, 'GW_ERR_EMPTY_BATCH');
    const scalar = await refusal('42');
    assert.equal(scalar.notice.code, 'GW_ERR_NOT_A_READING');
    assert.match(scalar.notice.errors[0].reason, /got 42/);
    const inner = await refusal(JSON.stringify([washerCycle({ ts: Date.now() - 1_000 }), 'cycle']));
    assert.equal(inner.notice.code, 'GW_ERR_INVALID_READING');
    assert.equal(inner.notice.accepted, 1);
    assert.equal(inner.notice.errors[0].index, 1);
  });

  it('a reading older than the raw retention is refused, the rest of its batch kept', async () => {
    const now = Date.now();
    const tooOld = new Date(now - (t.config.influx.retentionDays + 1) * 86_400_000).toISOString();
    const { notice, deviceId } = await refusal(JSON.stringify([washerCycle({ ts: tooOld }), washerCycle({ ts: now - 1_000 })]));
    assert.equal(notice.code, 'GW_ERR_TS_TOO_OLD');
    assert.equal(notice.errors[0].field, 'ts');
    assert.equal(notice.errors[0].index, 0);
    assert.equal(notice.accepted, 1);
    assert.equal(await t.waitForCount('washer_cycle', 1, { where: `device_id = '${deviceId}'` }), 1);
  });

  it('a reading type of another kind is refused, naming the types this kind sends', async () => {
    const { notice } = await refusal(JSON.stringify({ type: 'trip', distance_km: 3 }), 'fridge');
    assert.equal(notice.code, 'GW_ERR_INVALID_READING');
    assert.equal(notice.errors[0].field, 'type');
    assert.match(notice.errors[0].reason, /a fridge sends "state" on telemetry, got "trip"/);
  });

  it('a connection that sends no CONNECT within connectTimeoutMs is closed', async () => {
    const sock = rawConnect(t.mqttPort, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    const gone = await Promise.race([
      new Promise<boolean>((r) => sock.once('close', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref()),
    ]);
    assert.ok(gone, 'closed by the gateway');
    sock.destroy();
  });

  it('a keep-alive above keepaliveLimitS, or none at all, is refused at CONNECT', async () => {
    const d = await t.addDevice();
    for (const keepalive of [601, 0]) {
      const { sock, connack } = await rawMqtt(t.mqttPort, { clientId: d.id, username: d.id, password: Buffer.from(d.secret), keepalive });
      assert.notEqual(connack.returnCode, 0, `keepalive ${keepalive} refused`);
      sock.destroy();
    }
    const ok = await connect(t.mqttUrl, d.id, d.secret, { keepalive: 600 });
    await close(ok);
  });
});
