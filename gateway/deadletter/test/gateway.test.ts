import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { scrapeMetrics } from '../../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../../test/harness/gateway.ts';
import { close, connect, nextMessage } from '../../../test/harness/mqtt.ts';
import { listDeadLetters, MAX_ERRORS_PER_ENTRY } from '../index.ts';

const MAX_BYTES = 1024 * 1024; // the smallest limit the config allows

let t: TestGateway;
before(async () => { t = await startTestGateway({ overrides: { deadletter: { maxBytes: MAX_BYTES } }, captureLogs: true }); });
after(async () => { await t.stop(); });

async function bytesOnDisk(): Promise<number> {
  let total = 0;
  for (const n of await readdir(t.config.deadletter.dir)) total += (await stat(join(t.config.deadletter.dir, n))).size;
  return total;
}

/** Publishes at QoS 1 and returns the rejected notice. */
async function refusedNotice(deviceId: string, secret: string, payload: string): Promise<Record<string, any>> {
  const client = await connect(t.mqttUrl, deviceId, secret);
  await client.subscribeAsync(`devices/${deviceId}/rejected`, { qos: 1 });
  const notice = nextMessage(client, `devices/${deviceId}/rejected`);
  await client.publishAsync(`devices/${deviceId}/telemetry`, payload, { qos: 1 });
  const n = JSON.parse((await notice).toString());
  await close(client);
  return n;
}

describe('dead letters through the gateway', () => {
  it('a 17 KB message of 1,000 readings missing every field is kept in an entry of about its own size', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const payload = JSON.stringify(Array.from({ length: 1000 }, () => ({ type: 'cycle' })));
    const n = await refusedNotice(d.id, d.secret, payload);
    assert.equal(n.refused, 1000);
    // A cycle has seven required fields: 7,000 refusals.
    assert.equal(n.errors.length + n.moreErrors, 7000);
    const [entry] = await listDeadLetters(t.config.deadletter.dir, { deviceId: d.id });
    assert.equal(entry.payload, payload);
    assert.equal(entry.errors?.length, MAX_ERRORS_PER_ENTRY);
    assert.equal(entry.moreErrors, 7000 - MAX_ERRORS_PER_ENTRY);
    assert.deepEqual(entry.errors, n.errors.slice(0, MAX_ERRORS_PER_ENTRY), 'the same first errors as the notice');
    // It used to write every one of the 7,000 reasons: about 1 MB, 58 times the message.
    const ratio = (await bytesOnDisk()) / payload.length;
    assert.ok(ratio < 2, `entry / message = ${ratio.toFixed(2)}`);
  });

  it('at its size limit the store writes nothing more: refusals are still described, counted and logged once', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const before = await scrapeMetrics(t.httpUrl);
    const notices = [];
    // Not JSON, refused whole and kept with its payload: about 250 KB an entry.
    for (let i = 0; i < 6; i++) notices.push(await refusedNotice(d.id, d.secret, `${'x'.repeat(250_000)}${i}`));
    assert.ok(notices.every((n) => n.code === 'GW_ERR_BAD_JSON'), 'every message described to the device');
    const kept = (await listDeadLetters(t.config.deadletter.dir, { deviceId: d.id })).length;
    const m = await scrapeMetrics(t.httpUrl);
    const delta = (name: string) => (m.get(name) ?? 0) - (before.get(name) ?? 0);
    const onDisk = await bytesOnDisk();
    assert.ok(kept >= 1 && kept < 6, `${kept} kept`);
    assert.ok(onDisk <= MAX_BYTES, `${onDisk} bytes on disk`);
    assert.ok(onDisk + 250_000 > MAX_BYTES, 'it stopped only when the next entry did not fit');
    assert.equal(delta('ug_deadlettered_total{source="ingest"}'), kept);
    assert.equal(delta('ug_deadletter_refused_total{source="ingest"}'), 6 - kept);
    assert.equal(delta('ug_messages_refused_total{reason="GW_ERR_BAD_JSON"}'), 6);
    assert.equal(t.logs.filter((l) => l.code === 'GW_ERR_DEADLETTER_FULL').length, 1);
  });
});
