import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scrapeMetrics, until } from '../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { testInflux } from '../../test/harness/influx.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';

/**
 * InfluxDB that is overloaded rather than down, through a thin HTTP front at the outer edge
 * (everything else goes to the real InfluxDB): 429 with Retry-After is honoured, 5xx is
 * retried with backoff, and a write that never answers does not hold shutdown past its
 * deadline.
 */
type Mode = { kind: 'pass' } | { kind: 'status'; status: number; times: number; retryAfter?: string } | { kind: 'hang' };

let influx: { url: string; stop(): Promise<void> };
let front: Server;
let frontUrl: string;
let mode: Mode = { kind: 'pass' };
const writes: Array<{ at: number; status: number }> = [];

before(async () => {
  influx = await testInflux();
  front = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const isWrite = req.url?.startsWith('/write') ?? false;
    if (isWrite && mode.kind === 'hang') return; // never answers
    if (isWrite && mode.kind === 'status' && mode.times > 0) {
      mode.times--;
      writes.push({ at: Date.now(), status: mode.status });
      res.writeHead(mode.status, { 'content-type': 'application/json', ...(mode.retryAfter ? { 'retry-after': mode.retryAfter } : {}) });
      return res.end(JSON.stringify({ error: 'overloaded' }));
    }
    const upstream = await fetch(`${influx.url}${req.url}`, {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length') as Array<[string, string]>),
      body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
    });
    if (isWrite) writes.push({ at: Date.now(), status: upstream.status });
    res.writeHead(upstream.status, Object.fromEntries(upstream.headers));
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
});

after(async () => {
  front?.closeAllConnections();
  await new Promise((r) => front?.close(r));
  await influx?.stop();
});

test('429 with Retry-After is honoured up to retryMaxMs; 503 is retried; each reading is stored once', { timeout: 120_000 }, async () => {
  const gw = await startTestGateway({ influxUrl: frontUrl, overrides: { stats: { intervalS: 0 }, writer: { retryMinMs: 50, retryMaxMs: 3_000 } } });
  try {
    const d = await gw.addDevice({ kind: 'washer', id: 'slow-1' });
    const c = await connect(gw.mqttUrl, d.id, d.secret);
    const base = Date.now() - 60_000;

    writes.length = 0;
    mode = { kind: 'status', status: 429, times: 1, retryAfter: '2' };
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: base, seq: 0 })), { qos: 1 });
    assert.equal(await gw.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1);
    await until(() => writes.length === 2, 'the 204 of the retried write');
    const [refused, retried] = writes;
    assert.equal(refused.status, 429);
    assert.equal(retried.status, 204);
    // Without Retry-After the first retry would come after 25–50 ms of backoff.
    assert.ok(retried.at - refused.at >= 1_900, `the retry waited for Retry-After (${retried.at - refused.at} ms)`);

    // A server asking for an hour is looked at again after retryMaxMs (3 s), not an hour.
    writes.length = 0;
    mode = { kind: 'status', status: 429, times: 1, retryAfter: '3600' };
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + 500, seq: 9 })), { qos: 1 });
    assert.equal(await gw.waitForCount('washer_cycle', 2, { where: `device_id = '${d.id}'` }), 2);
    await until(() => writes.length === 2, 'the 204 of the write retried after retryMaxMs');
    assert.deepEqual(writes.map((w) => w.status), [429, 204]);
    assert.ok(writes[1].at - writes[0].at >= 2_900, `waited retryMaxMs (${writes[1].at - writes[0].at} ms)`);

    writes.length = 0;
    mode = { kind: 'status', status: 503, times: 3 };
    await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify([1, 2, 3].map((seq) => washerCycle({ ts: base + seq * 1_000, seq }))), { qos: 1 });
    assert.equal(await gw.waitForCount('washer_cycle', 5, { where: `device_id = '${d.id}'` }), 5);
    // InfluxDB shows the points a moment before its 204 is through the front.
    await until(() => writes.length === 4, 'the 204 of the fourth write');
    assert.deepEqual(writes.map((w) => w.status), [503, 503, 503, 204]);
    const m = await scrapeMetrics(gw.httpUrl);
    assert.equal(m.get('ug_write_retries_total{cause="429"}'), 2);
    assert.equal(m.get('ug_write_retries_total{cause="503"}'), 3);
    assert.equal(await gw.count('washer_cycle', `device_id = '${d.id}'`), 5);
    await close(c);
  } finally {
    mode = { kind: 'pass' };
    await gw.stop();
  }
});

test('a write that never returns does not hold shutdown past the deadline; the batch stays spooled', { timeout: 120_000 }, async () => {
  const gw = await startTestGateway({
    influxUrl: frontUrl,
    overrides: { stats: { intervalS: 0 }, influx: { requestTimeoutMs: 600_000 }, shutdown: { deadlineMs: 500 } },
  });
  const dir = gw.dir;
  const database = gw.database;
  const d = await gw.addDevice({ kind: 'washer', id: 'hang-1' });
  const c = await connect(gw.mqttUrl, d.id, d.secret);
  writes.length = 0;
  mode = { kind: 'hang' };
  await c.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: Date.now() - 1_000, seq: 7 })), { qos: 1 });
  await close(c);
  await until(() => gw.gateway.spool.stats().depthRecords === 1, 'the reading in the spool');
  // stop() must return though the write in flight would only time out after 10 minutes.
  await Promise.race([
    gw.stop(false),
    new Promise((_, reject) => setTimeout(() => reject(new Error('stop() waited for the hanging write')), 60_000).unref()),
  ]);
  mode = { kind: 'pass' };
  front.closeAllConnections();

  const again = await startTestGateway({ influxUrl: influx.url, dir, database, overrides: { stats: { intervalS: 0 } } });
  try {
    assert.equal(await again.waitForCount('washer_cycle', 1, { where: `device_id = '${d.id}'` }), 1, 'the next start wrote it');
  } finally {
    await again.stop(false);
    await rm(dir, { recursive: true, force: true });
  }
});
