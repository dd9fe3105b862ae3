import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { scrapeMetrics, until } from '../../test/harness/durability.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { RawMqtt } from '../../test/harness/raw-mqtt.ts';
import { connectPacket, type RawConnect } from '../../test/harness/mqtt-wire.ts';

let t: TestGateway;
before(async () => { t = await startTestGateway({ captureLogs: true }); });
after(async () => { await t.stop(); });

/** One CONNECT from `localAddress` (a loopback address of its own per test); the CONNACK code, or 'closed'. */
async function login(localAddress: string, c: RawConnect): Promise<number | 'closed'> {
  const raw = await RawMqtt.open(t.mqttPort, { localAddress });
  try {
    raw.send(connectPacket(c));
    const p = await raw.next();
    return p === 'closed' ? p : (p as { returnCode: number }).returnCode;
  } finally {
    raw.destroy();
  }
}

const logText = (from: number) => t.logs.slice(from).map((l) => JSON.stringify(l)).join('\n');

describe('failed logins', () => {
  it('a device that swaps username and password is refused, and its secret is nowhere in the log', async () => {
    const d = await t.addDevice();
    const from = t.logs.length;
    assert.equal(await login('127.0.0.31', { clientId: d.id, username: d.secret, password: d.id }), 4);
    const text = logText(from);
    assert.match(text, /GW_ERR_AUTH_FAILED/, 'the failure is logged');
    assert.ok(!text.includes(d.secret), 'the secret is not in any log line');
  });

  it('50 logins with a 64 KiB username from one address give one short log line, and every one is counted', async () => {
    const before = await scrapeMetrics(t.httpUrl);
    const from = t.logs.length;
    // The longest a CONNECT can carry (64 KiB), control characters included: what reaches the
    // log must be short and printable.
    const username = `\u001b[2J${'u'.repeat(65_535 - 4)}`;
    for (let i = 0; i < 50; i++) {
      const code = await login('127.0.0.32', { clientId: `flood-${i}`, username, password: 'x' });
      assert.ok(code === 4 || code === 3, `attempt ${i}: refused (${code})`);
    }
    const lines = t.logs.slice(from);
    assert.equal(lines.length, 1, `one line for the address in this interval, got ${lines.length}`);
    assert.ok(JSON.stringify(lines[0]).length < 1_024, 'the line is short');
    assert.ok(!JSON.stringify(lines[0]).includes('\\u001b'), 'no control characters');
    assert.equal(lines[0].remoteAddress, '127.0.0.32');
    const m = await scrapeMetrics(t.httpUrl);
    const grew = (reason: string) => (m.get(`ug_auth_failures_total{reason="${reason}"}`) ?? 0) - (before.get(`ug_auth_failures_total{reason="${reason}"}`) ?? 0);
    assert.equal(grew('bad-credentials') + grew('throttled'), 50, 'each attempt is counted');
    assert.ok(grew('throttled') > 0, 'the address was throttled');
  });

  it('an address with too many failed logins is refused at once, even with the right secret, until its back-off ends; other addresses are not', async () => {
    const d = await t.addDevice();
    const addr = '127.0.0.33';
    const allowed = t.config.auth.loginFailuresAllowed;
    for (let i = 0; i < allowed; i++) assert.equal(await login(addr, { clientId: d.id, username: d.id, password: 'wrong' }), 4, `failure ${i + 1} is checked`);
    // The right secret from the throttled address: "server unavailable", without the secret
    // being checked (that is what a flood of wrong ones would otherwise cost).
    assert.equal(await login(addr, { clientId: d.id, username: d.id, password: d.secret }), 3);
    // The device itself, from its own address, is not held up.
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: Date.now() - 1_000 })), { qos: 1 });
    await close(client);
    assert.equal(await t.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1);
    // Once the back-off has passed, the address may log in again.
    let code: number | 'closed' = 3;
    await until(async () => (code = await login(addr, { clientId: d.id, username: d.id, password: d.secret })) === 0, 'the back-off to end', 10_000, 100);
    assert.equal(code, 0);
  });
});
