import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listDeadLetters } from '../deadletter/index.ts';
import { scrapeMetrics, until } from '../../test/harness/durability.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, mosquittoPub, nextMessage, washerCycle } from '../../test/harness/mqtt.ts';

let t: TestGateway;
before(async () => { t = await startTestGateway(); });
after(async () => { await t.stop(); });

describe('readings land in InfluxDB', () => {
  it('a washer cycle from mosquitto_pub at QoS 0 and QoS 1 is stored with its tags and field types', async () => {
    const d = await t.addDevice({ kind: 'washer', model: 'WM-7' });
    const base = Date.now() - 60_000;
    for (const qos of [0, 1]) {
      const r = await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ ts: base + qos, seq: qos, load_kg: 7.5 + qos })), qos);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(await t.waitForCount('washer_cycle', 2, { where: `device_id = '${d.id}'` }), 2);
    const rows = await t.query<Record<string, any>>(`SELECT * FROM washer_cycle WHERE device_id = '${d.id}' ORDER BY time`);
    assert.equal(rows[0].kind, 'washer');
    assert.equal(rows[0].model, 'WM-7');
    assert.equal(rows[0].program, 'cotton');
    assert.equal(rows[0].load_kg, 7.5);
    assert.equal(rows[1].load_kg, 8.5);
    assert.equal(new Date(rows[0].time).getTime(), base);
    const fields = await t.query<{ fieldKey: string; fieldType: string }>('SHOW FIELD KEYS FROM washer_cycle');
    const types = Object.fromEntries(fields.map((f) => [f.fieldKey, f.fieldType]));
    assert.equal(types.load_kg, 'float');
    assert.equal(types.duration_s, 'integer');
    assert.equal(types.spin_rpm, 'integer');
    assert.equal(types.seq, 'integer');
    const tags = (await t.query<{ tagKey: string }>('SHOW TAG KEYS FROM washer_cycle')).map((r) => r.tagKey);
    for (const tag of ['device_id', 'kind', 'model']) assert.ok(tags.includes(tag), `tag ${tag} in ${tags}`);
  });

  it('a reading from mqtt.js is stored, and one without ts gets the receive time', async () => {
    const d = await t.addDevice({ kind: 'fridge', model: 'FR-250' });
    const client = await connect(t.mqttUrl, d.id, d.secret);
    const before = Date.now();
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify({ type: 'state', temp_c: 4.2, freezer_temp_c: -18, door_openings: 3, door_open_s: 12.5, compressor_duty: 0.4, energy_kwh: 0.05 }), { qos: 1 });
    const afterAck = Date.now();
    await close(client);
    assert.equal(await t.waitForCount('fridge_state', 1, { where: `device_id = '${d.id}'` }), 1);
    const [row] = await t.query<Record<string, any>>(`SELECT * FROM fridge_state WHERE device_id = '${d.id}'`);
    const at = new Date(row.time).getTime();
    assert.ok(at >= before - 1 && at <= afterAck + 1, `time ${at} within [${before}, ${afterAck}]`);
    assert.equal(row.door_openings, 3);
  });

  it('an array of 1000 readings lands as 1000 points', async () => {
    const d = await t.addDevice({ kind: 'car', model: 'CAR-CITY' });
    const start = Date.now() - 1000 * 60_000;
    const batch = Array.from({ length: 1000 }, (_, i) => ({
      type: 'trip', ts: start + i * 60_000, seq: i, distance_km: 10 + (i % 7), duration_s: 900, avg_speed_kmh: 40, max_speed_kmh: 90,
      harsh_brakes: i % 3, harsh_accels: 0, night_km: 0, odometer_km: 1000 + i * 12,
    }));
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(batch), { qos: 1 });
    await close(client);
    assert.equal(await t.waitForCount('car_trip', 1000, { where: `device_id = '${d.id}'` }), 1000);
    const [sum] = await t.query<{ sum: number }>(`SELECT sum(seq) FROM car_trip WHERE device_id = '${d.id}'`);
    assert.equal(sum.sum, (999 * 1000) / 2);
  });

  it('an error event on events is stored in device_event', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const r = await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/events`, JSON.stringify({ type: 'error', code: 'E21', severity: 'warning', detail: 'drain pump slow' }));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await t.waitForCount('device_event', 1, { where: `device_id = '${d.id}'` }), 1);
    const [row] = await t.query<Record<string, any>>(`SELECT * FROM device_event WHERE device_id = '${d.id}'`);
    assert.equal(row.code, 'E21');
    assert.equal(row.severity, 'warning');
  });

  it('an event whose detail holds newlines is stored once, exactly as sent; points written counts it and a late day\'s marker as one point each', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const written = async () => (await scrapeMetrics(t.httpUrl)).get('ug_points_written_total') ?? 0;
    await until(() => t.gateway.spool.stats().depthRecords === 0, 'earlier readings to be written');
    const before = await written();
    // The second event is two days old: late for its day, so the gateway adds that day's marker.
    const sent = [
      { type: 'error', ts: Date.now() - 60_000, seq: 1, code: 'E21', severity: 'warning', detail: 'line one\nline two' },
      { type: 'error', ts: Date.now() - 2 * 86_400_000, seq: 2, code: 'E22', severity: 'info', detail: 'a\r\nb \\n "c"\r' },
    ];
    const r = await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/events`, JSON.stringify(sent), 1);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await t.waitForCount('device_event', 2, { where: `device_id = '${d.id}'` }), 2);
    await until(() => t.gateway.spool.stats().depthRecords === 0, 'the spool to drain');
    const rows = await t.query<{ detail: string }>(`SELECT "detail" FROM device_event WHERE device_id = '${d.id}' ORDER BY time DESC`);
    assert.deepEqual(rows.map((x) => x.detail), sent.map((e) => e.detail));
    assert.equal(await written() - before, 3);
    assert.deepEqual(await listDeadLetters(t.config.deadletter.dir, { deviceId: d.id }), []);
  });

  it('replaying the same reading overwrites its point instead of adding one', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const reading = JSON.stringify(washerCycle({ ts: Date.now() - 5_000, seq: 42 }));
    for (let i = 0; i < 3; i++) assert.equal((await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/telemetry`, reading)).code, 0);
    const other = JSON.stringify(washerCycle({ ts: Date.now() - 5_000, seq: 43 }));
    assert.equal((await mosquittoPub(t.mqttPort, d.id, d.secret, `devices/${d.id}/telemetry`, other)).code, 0);
    assert.equal(await t.waitForCount('washer_cycle', 2, { where: `device_id = '${d.id}'` }), 2);
    await t.gateway.spool.waitForSpace();
    assert.equal(await t.count('washer_cycle', `device_id = '${d.id}'`), 2, 'same reading three times is one point; another seq at the same ms is another');
  });
});

describe('invalid readings are refused with a reason and kept', () => {
  const cases: Array<{ name: string; payload: (now: number) => Buffer | string; code: string; field?: string }> = [
    { name: 'wrong type', payload: () => JSON.stringify(washerCycle({ load_kg: 'heavy' })), code: 'GW_ERR_INVALID_READING', field: 'load_kg' },
    { name: 'unknown field', payload: () => JSON.stringify(washerCycle({ colour: 'white' })), code: 'GW_ERR_INVALID_READING', field: 'colour' },
    { name: 'out-of-range value', payload: () => JSON.stringify(washerCycle({ spin_rpm: 9000 })), code: 'GW_ERR_INVALID_READING', field: 'spin_rpm' },
    { name: 'future ts', payload: (now) => JSON.stringify(washerCycle({ ts: now + 3_600_000 })), code: 'GW_ERR_TS_IN_FUTURE', field: 'ts' },
    { name: 'bad JSON', payload: () => '{"type":"cycle",', code: 'GW_ERR_BAD_JSON' },
    { name: 'bad UTF-8', payload: () => Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), code: 'GW_ERR_BAD_UTF8' },
  ];
  for (const c of cases) {
    it(`${c.name}: notice on rejected, dead-letter entry, the valid readings of the batch stored, device stays connected`, async () => {
      const d = await t.addDevice({ kind: 'washer' });
      const client = await connect(t.mqttUrl, d.id, d.secret);
      await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
      const now = Date.now();
      const bad = c.payload(now);
      const isWhole = c.code === 'GW_ERR_BAD_JSON' || c.code === 'GW_ERR_BAD_UTF8';
      // For per-reading errors the bad reading travels with two good ones in one array.
      const message = isWhole ? bad : `[${JSON.stringify(washerCycle({ ts: now - 2_000, seq: 1 }))},${bad},${JSON.stringify(washerCycle({ ts: now - 1_000, seq: 2 }))}]`;
      const notice = nextMessage(client, `devices/${d.id}/rejected`);
      await client.publishAsync(`devices/${d.id}/telemetry`, message as Buffer, { qos: 1 });
      const n = JSON.parse((await notice).toString());
      assert.equal(n.code, c.code);
      assert.equal(n.topic, `devices/${d.id}/telemetry`);
      assert.equal(n.refused, 1);
      assert.equal(n.accepted, isWhole ? 0 : 2);
      if (c.field) assert.ok(n.errors.some((e: any) => e.field === c.field && e.index === 1), JSON.stringify(n.errors));
      assert.ok(n.errors[0].reason.length > 10, 'a reason in words');
      const dead = await listDeadLetters(t.config.deadletter.dir, { deviceId: d.id });
      assert.equal(dead.length, 1);
      assert.equal(dead[0].code, c.code);
      assert.ok(dead[0].payload, 'the payload is kept');
      if (!isWhole) assert.equal(await t.waitForCount('washer_cycle', 2, { where: `device_id = '${d.id}'` }), 2);
      assert.ok(client.connected, 'device not disconnected');
      await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(washerCycle({ seq: 9 })), { qos: 1 });
      assert.equal(await t.waitForCount('washer_cycle', isWhole ? 1 : 3, { where: `device_id = '${d.id}'` }), isWhole ? 1 : 3);
      await close(client);
    });
  }
});

describe('reading times are RFC 3339, parsed strictly', () => {
  it('a batch of good and bad ts: the good ones stored at their instant, each bad one refused on ts with its reason', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    // Good times an hour ago, written the ways RFC 3339 allows; bad ones impossible on any day.
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const iso = at.toISOString(); // 2026-11-26T11:04:05.000Z
    const day = iso.slice(0, 10);
    const local = (offsetMin: number) => new Date(at.getTime() + offsetMin * 60_000).toISOString().slice(0, 19);
    const good: Array<[string, number]> = [
      [iso.replace('.000Z', 'Z'), at.getTime()],
      [iso.replace('T', 't').replace('.000Z', '.25z'), at.getTime() + 250],
      [iso.replace('T', ' ').replace('.000Z', '.123456789Z'), at.getTime() + 123],
      [iso.replace('.000Z', '-00:00'), at.getTime()],
      [`${local(120)}+02:00`, at.getTime()],
      [`${local(-330)}-05:30`, at.getTime()],
    ];
    const bad: Array<[string, RegExp]> = [
      ['2026-02-30T10:00:00Z', /February 2026 has 28 days, there is no day 30/],
      ['2025-02-29T10:00:00Z', /February 2025 has 28 days, there is no day 29/],
      ['2026-04-31T10:00:00Z', /April 2026 has 30 days, there is no day 31/],
      ['2026-13-01T10:00:00Z', /there is no month 13/],
      [`${day}T24:00:00Z`, /hour 24 is out of range/],
      [`${day}T10:60:00Z`, /minute 60 is out of range/],
      [`${day}T10:00:61Z`, /second 61 is out of range/],
      [`${day}T10:00:00+24:00`, /offset \+24:00 is out of range/],
      [`${day}T10:00:00.1234567890Z`, /at most 9/],
      [`${day}T10:00:00`, /expected an RFC 3339 time/],
    ];
    const batch = [...good.map(([ts]) => ts), ...bad.map(([ts]) => ts)].map((ts, i) => washerCycle({ ts, seq: i }));
    const notice = nextMessage(client, `devices/${d.id}/rejected`);
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(batch), { qos: 1 });
    const n = JSON.parse((await notice).toString());
    assert.equal(n.accepted, good.length, JSON.stringify(n.errors));
    assert.equal(n.refused, bad.length);
    assert.equal(n.errors.length, bad.length);
    bad.forEach(([ts, why], j) => {
      const e = n.errors.find((x: any) => x.index === good.length + j);
      assert.ok(e, `no error for ${ts}: ${JSON.stringify(n.errors)}`);
      assert.equal(e.code, 'GW_ERR_INVALID_READING', ts);
      assert.equal(e.field, 'ts', ts);
      assert.match(e.reason, why, ts);
      assert.equal(e.received, ts);
    });
    assert.equal(await t.waitForCount('washer_cycle', good.length, { where: `device_id = '${d.id}'` }), good.length);
    const rows = await t.query<{ time: string; seq: number }>(`SELECT seq, load_kg FROM washer_cycle WHERE device_id = '${d.id}'`);
    const bySeq = new Map(rows.map((r) => [r.seq, new Date(r.time).getTime()]));
    // A point's time is ts plus a sub-millisecond part from seq, so compare the milliseconds.
    good.forEach(([ts, ms], i) => assert.equal(Math.floor(bySeq.get(i)!), ms, ts));
    await close(client);
  });
});

describe('refusal reasons a device engineer can act on', () => {
  it('a number too large for JSON and a fractional epoch ts are named as such in the rejected notice', async () => {
    const d = await t.addDevice({ kind: 'washer' });
    const client = await connect(t.mqttUrl, d.id, d.secret);
    await client.subscribeAsync(`devices/${d.id}/rejected`, { qos: 1 });
    const now = Date.now();
    // Written as text: 1e309 is what a firmware printf of a huge double gives; JSON.parse reads it as Infinity.
    const tooLarge = JSON.stringify(washerCycle({ ts: now - 3_000, seq: 1 })).replace('"load_kg":6.5', '"load_kg":1e309');
    const fractional = JSON.stringify(washerCycle({ ts: now - 2_000.5, seq: 2 }));
    const good = JSON.stringify(washerCycle({ ts: now - 1_000, seq: 3 }));
    const notice = nextMessage(client, `devices/${d.id}/rejected`);
    await client.publishAsync(`devices/${d.id}/telemetry`, `[${tooLarge},${fractional},${good}]`, { qos: 1 });
    const n = JSON.parse((await notice).toString());
    assert.equal(n.accepted, 1);
    assert.equal(n.refused, 2);
    assert.deepEqual(n.errors.map((e: any) => [e.index, e.field, e.reason, e.received]), [
      [0, 'load_kg', 'number too large (not finite)', 'Infinity'],
      [1, 'ts', `epoch milliseconds must be a whole number, got ${now - 2_000.5}`, now - 2_000.5],
    ]);
    const [dead] = await listDeadLetters(t.config.deadletter.dir, { deviceId: d.id });
    assert.equal(dead.reason, 'reading 0 field load_kg: number too large (not finite) (and 1 more)');
    await close(client);
  });
});
