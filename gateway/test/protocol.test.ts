import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { scrapeMetrics } from '../../test/harness/durability.ts';
import { RawMqtt } from '../../test/harness/raw-mqtt.ts';
import { connectPacket } from '../../test/harness/mqtt-wire.ts';

let t: TestGateway;
before(async () => { t = await startTestGateway({ captureLogs: true }); });
after(async () => { await t.stop(); });

describe('CONNECT checks of MQTT 3.1.1 that the packet parser leaves to the broker', () => {
  it('a will with QoS 3 closes the connection without CONNACK [MQTT-3.1.2-14]; QoS 0 to 2 are accepted', async () => {
    const d = await t.addDevice();
    const will = (qos: number) => ({ topic: `devices/${d.id}/status`, payload: 'offline', qos, retain: true });
    const raw = await RawMqtt.open(t.mqttPort);
    raw.send(connectPacket({ clientId: d.id, username: d.id, password: d.secret, will: will(3) }));
    assert.equal(await raw.next(), 'closed', 'no CONNACK: the connection is closed');
    assert.ok(t.logs.some((l) => l.code === 'GW_ERR_PROTOCOL' && /will QoS 3/i.test(String(l.reason))), 'logged with its reason');
    assert.equal((await scrapeMetrics(t.httpUrl)).get('ug_connections_refused_total{reason="protocol-error"}'), 1);
    for (const qos of [0, 1, 2]) {
      const ok = await RawMqtt.open(t.mqttPort);
      ok.send(connectPacket({ clientId: d.id, username: d.id, password: d.secret, will: will(qos) }));
      const p = await ok.next();
      assert.ok(p !== 'closed' && p.cmd === 'connack' && p.returnCode === 0, `will QoS ${qos} accepted`);
      ok.destroy();
    }
  });

  it('a password without a user name closes the connection without CONNACK [MQTT-3.1.2-22], in anonymous mode too', async () => {
    const anon = await startTestGateway({ overrides: { auth: { anonymous: true } } });
    try {
      for (const g of [t, anon]) {
        const d = await g.addDevice();
        // From an address of its own: refusals are logged once per address and interval.
        const raw = await RawMqtt.open(g.mqttPort, { localAddress: '127.0.0.41' });
        raw.send(connectPacket({ clientId: d.id, password: d.secret }));
        assert.equal(await raw.next(), 'closed', 'no CONNACK: the connection is closed');
      }
      assert.ok(t.logs.some((l) => l.code === 'GW_ERR_PROTOCOL' && /password without user name/.test(String(l.reason))), 'logged with its reason');
    } finally {
      await anon.stop();
    }
  });
});
