import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';

let gw: TestGateway;
before(async () => { gw = await startTestGateway(); });
after(async () => { await gw?.stop(); });

test('/healthz and /readyz answer for a running gateway', async () => {
  const health = await fetch(`${gw.httpUrl}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await fetch(`${gw.httpUrl}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { ready: true, reasons: [] });
});

test('/status is the JSON behind `usage-gateway status`', async () => {
  const res = await fetch(`${gw.httpUrl}/status`);
  assert.equal(res.status, 200);
  const s = await res.json() as { state: string; ready: boolean; spool: { depthRecords: number }; readings: { received: number } };
  assert.equal(s.state, 'running');
  assert.equal(s.ready, true);
  assert.equal(typeof s.spool.depthRecords, 'number');
  assert.equal(typeof s.readings.received, 'number');
});

test('an unknown path answers 404 with a coded error that names the routes', async () => {
  const res = await fetch(`${gw.httpUrl}/devices?x=1`);
  assert.equal(res.status, 404);
  const body = await res.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'GW_ERR_BAD_REQUEST');
  assert.match(body.error.message, /GET \/devices;.*\/healthz, \/readyz, \/metrics and \/status/);
});
