import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { testInflux } from '../../../test/harness/influx.ts';
import { allReadings } from '../../../protocol/kinds/index.ts';
import { createInfluxStore, type InfluxStore, rollups } from '../index.ts';

let store: InfluxStore;
let stop: () => Promise<void>;
const HOUR = 3_600_000;
// Two whole days in the past, aligned to midnight UTC, so hourly and daily buckets are exact.
const day0 = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 3 * 86_400_000;

/** The continuous queries of this test's database (the server may hold other tests' too). */
async function cqsOfDb(): Promise<Array<{ name: string; query: string }>> {
  const res = (await store.query('SHOW CONTINUOUS QUERIES')) as unknown as { groupRows: Array<{ name: string; rows: Array<{ name: string; query: string }> }> };
  return res.groupRows.find((g) => g.name === store.opts.database)?.rows ?? [];
}

before(async () => {
  const influx = await testInflux();
  stop = influx.stop;
  store = createInfluxStore({ version: 1, url: influx.url, database: `t_${randomBytes(5).toString('hex')}`, retentionDays: 400, requestTimeoutMs: 10_000, rollupRetentionDays: 1_000 });
  await store.ensureDatabase();
});
after(() => stop());

test('ensureDatabase creates the rollup retention policy and a continuous query per reading type and interval', async () => {
  const rps = await store.query<{ name: string; duration: string; default: boolean }>(`SHOW RETENTION POLICIES ON "${store.opts.database}"`);
  assert.deepEqual(rps.filter((r) => r.name !== 'autogen').map((r) => [r.name, r.duration, r.default]).sort(), [['raw', '9600h0m0s', true], ['rollup', '24000h0m0s', false]]);
  const cqs = (await cqsOfDb()).map((r) => r.name).sort();
  assert.equal(cqs.length, allReadings().length * 2);
  assert.deepEqual(cqs, rollups().map((r) => r.name).sort());
  assert.ok(cqs.includes('rollup_washer_cycle_1d') && cqs.includes('rollup_device_event_1h'));
});

test('running ensureDatabase again keeps the continuous queries as they are', async () => {
  const before = await cqsOfDb();
  await store.ensureDatabase();
  assert.deepEqual(await cqsOfDb(), before);
});

test('backfill computes hourly and daily roll-ups that match the raw data, per device and tag', async () => {
  const lines: string[] = [];
  // Device a: 3 cycles in hour 1 of day 0, 1 cycle on day 1; device b: 2 cycles on day 0.
  const cycle = (id: string, program: string, load: number, t: number) =>
    `washer_cycle,device_id=${id},kind=washer,model=WM-8,program=${program} load_kg=${load},duration_s=3600i,water_l=40,energy_kwh=1,temp_c=40,spin_rpm=1200i ${t}000000`;
  lines.push(cycle('a', 'cotton', 6, day0 + HOUR + 1), cycle('a', 'cotton', 9, day0 + HOUR + 2), cycle('a', 'cotton', 3, day0 + HOUR + 3));
  lines.push(cycle('a', 'eco', 5, day0 + 86_400_000 + 10 * HOUR));
  lines.push(cycle('b', 'wool', 2, day0 + 5 * HOUR), cycle('b', 'wool', 4, day0 + 6 * HOUR));
  lines.push(`device_event,device_id=a,kind=washer,model=WM-8,severity=warning code="E21" ${day0 + 2 * HOUR}000000`);
  assert.deepEqual(await store.write(lines.join('\n')), { ok: true });
  const progress: string[] = [];
  const res = await store.backfillRollups(day0, day0 + 2 * 86_400_000, (r) => progress.push(r.measurement));
  assert.equal(progress.length, rollups().length);
  assert.equal(res.find((r) => r.measurement === 'rollup.washer_cycle_1d')?.written, 3);

  const hourly = await store.query<{ n: number; load_kg_sum: number; load_kg_max: number; spin_rpm_sum: number }>(
    `SELECT "n", "load_kg_sum", "load_kg_max", "spin_rpm_sum" FROM "rollup"."washer_cycle_1h" WHERE "device_id" = 'a' AND time = ${day0 + HOUR}ms`);
  assert.deepEqual(hourly.map((r) => [r.n, r.load_kg_sum, r.load_kg_max, r.spin_rpm_sum]), [[3, 18, 9, 3600]]);
  const daily = await store.query<{ sum: number }>(`SELECT sum("n") FROM "rollup"."washer_cycle_1d" WHERE time >= ${day0}ms AND time < ${day0 + 86_400_000}ms GROUP BY "program"`);
  assert.deepEqual(daily.map((r) => r.sum).sort(), [2, 3]);
  const events = await store.query<{ n: number; severity: string }>(`SELECT "n", "severity" FROM "rollup"."device_event_1d"`);
  assert.deepEqual(events.map((e) => [e.n, e.severity]), [[1, 'warning']]);

  // Backfilling again overwrites the same buckets: idempotent.
  await store.backfillRollups(day0, day0 + 2 * 86_400_000);
  const again = await store.query<{ sum: number }>(`SELECT sum("n") FROM "rollup"."washer_cycle_1d"`);
  assert.equal(again[0].sum, 6);
});

test('eraseDevice also removes the device from the roll-ups', async () => {
  const res = await store.eraseDevice('a');
  assert.equal(res.points['raw.washer_cycle'], 4);
  assert.equal(res.points['rollup.washer_cycle_1h'], 2);
  assert.equal(res.points['raw.device_event'], 1);
  assert.deepEqual(await store.devicePoints('a'), {});
  assert.equal((await store.devicePoints('b'))['rollup.washer_cycle_1d'], 1);
});
