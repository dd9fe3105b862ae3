import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../config/load.ts';
import { createInfluxStore, FEATURE_LAYER, postQuery } from '../../core/influx/index.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { runCli } from '../../test/harness/process.ts';
import type { ManifestDevice } from '../backtest/manifest.ts';
import type { RunSummary } from '../engine/job.ts';
import { buildOwnerReport } from '../report/index.ts';
import { createAnalytics, type Analytics } from '../service.ts';
import { blockOf, type Slot } from '../features/layer.ts';
import { makeFleet, writeFleet, type FleetOptions } from './helpers/fleet.ts';
import { analyticsEnv, DAY, type AnalyticsEnv } from './helpers/setup.ts';

// The daily feature layer against the raw readings it summarises: on a seeded fleet, the same
// triggers; read alone (the raw readings elsewhere), the same triggers; split in two partitions
// by owner, the same triggers, frequency cap and declines included. And a reading that reaches
// the gateway three days late changes its day in the layer, and the next run acts on it.
const END = Math.floor(Date.now() / DAY) * DAY - 2 * DAY;
const opts: FleetOptions = { devices: 90, days: 90, endMs: END, seed: 11, prefix: 'fl' };
const POLICY = { frequencyCapMax: 1, frequencyCapDays: 7, declineSuppressionDays: 90 };
let env: AnalyticsEnv;
let fleet: ManifestDevice[];

before(async () => {
  env = await analyticsEnv();
  fleet = makeFleet(opts);
  // Households: pairs of devices share an owner, and one owner has two washers with an upsell
  // pattern each (the frequency cap must hold that owner to one marketing trigger).
  fleet.forEach((d, i) => {
    if (i % 4 < 2) d.owner = `household-${Math.floor(i / 4)}`;
  });
  const [a, b] = fleet.filter((d) => d.persona === 'washer-overloader' || d.persona === 'heavy-user');
  assert.ok(a && b, 'the fleet needs two washers with an upsell pattern');
  b.owner = a.owner;
  await writeFleet(env.store, fleet, opts);
  await env.register(fleet, (d) => (Number(d.id.split('-').at(-1)) % 5 === 1 ? ['service'] : ['marketing', 'service']));
});
after(() => env?.stop());

/** An analytics of this env with a state folder of its own. */
async function analytics(analytics: Record<string, unknown>, database?: string): Promise<Analytics> {
  const stateDir = await mkdtemp(join(tmpdir(), 'ug-fl-state-'));
  return env.analytics({ analytics: { stateDir, policy: POLICY, ...analytics }, ...(database ? { influx: { database } } : {}) });
}

const triggersOf = (a: Analytics) => a.state.list({ limit: 100_000 }).items.map((r) => r.trigger).sort((x, y) => x.id.localeCompare(y.id));
const reasons = (...s: RunSummary[]) => {
  const out: Record<string, number> = {};
  for (const x of s) for (const [k, v] of Object.entries(x.suppressed)) out[k] = (out[k] ?? 0) + (v ?? 0);
  return out;
};

describe('daily feature layer', () => {
  let layerTriggers: Trigger[];
  let layerRun: RunSummary;

  test('a run over the layer fires exactly the triggers of a run over raw readings, and builds each day once', async () => {
    const raw = await analytics({ features: 'raw' });
    const rawRun = await raw.run({ asOfMs: END });
    const layer = await analytics({ features: 'layer', concurrency: 3, pageSize: 20 });
    layerRun = await layer.run({ asOfMs: END });
    assert.ok(rawRun.fired >= 10, `the planted personas must fire, got ${rawRun.fired}`);
    layerTriggers = triggersOf(layer);
    assert.deepEqual(layerTriggers, triggersOf(raw));
    assert.deepEqual(reasons(layerRun), reasons(rawRun));
    assert.ok((rawRun.suppressed['frequency-cap'] ?? 0) >= 1, 'the owner with two upsell washers must have been capped');
    // The first run built the days it needed; a second run (a fresh state) builds none.
    assert.ok(layerRun.layer && layerRun.layer.daysBuilt >= 28, `days built: ${JSON.stringify(layerRun.layer)}`);
    const again = await (await analytics({ features: 'layer' })).run({ asOfMs: END });
    assert.equal(again.layer?.daysBuilt, 0);
    assert.equal(again.fired, layerRun.fired);
    // One small point per device and 7 days: far fewer points than the readings behind them.
    const [rows] = await env.store.query<{ count: number }>(`SELECT count("f") FROM "${FEATURE_LAYER.daily}"`);
    assert.ok(rows.count > 0 && rows.count <= fleet.length * Math.ceil(90 / 7 + 1), `layer points: ${rows.count}`);
  });

  test('the layer alone is enough: a database holding only the layer gives the same triggers', async () => {
    const only = `${env.database}_layer`;
    const store = createInfluxStore({ ...loadConfig({ env: {}, overrides: { dataDir: env.dir, influx: { url: env.influxUrl, database: only, rollups: false } } }).influx });
    await store.ensureDatabase();
    const o = { url: env.influxUrl, database: env.database, retentionDays: 400, requestTimeoutMs: 60_000 };
    for (const m of [FEATURE_LAYER.daily, FEATURE_LAYER.days]) await postQuery(o, `SELECT * INTO "${only}".."${m}" FROM "${m}" GROUP BY *`);
    const a = await analytics({ features: 'layer' }, only);
    const run = await a.run({ asOfMs: END });
    assert.equal(run.layer?.daysBuilt, 0, 'every day is in the copied layer');
    const [raw] = await store.query<{ count: number }>('SELECT count("load_kg") FROM "washer_cycle"');
    assert.equal(raw, undefined, 'no raw reading in that database');
    assert.deepEqual(triggersOf(a), layerTriggers);
  });

  test('two partitions by owner fire what one run fires, frequency cap and declines included', async () => {
    const whole = await analytics({ features: 'layer' });
    const parts = [await analytics({ partition: { count: 2, index: 0 } }), await analytics({ partition: { count: 2, index: 1 } })];
    // A first round a fortnight before, then declines of some of its offers by their owners.
    const earlier = END - 14 * DAY;
    await whole.run({ asOfMs: earlier });
    const firstParts = await Promise.all(parts.map((p) => p.run({ asOfMs: earlier })));
    assert.ok(firstParts.every((r) => r.partition && r.partition.devices > 0), 'each partition holds devices');
    assert.equal(firstParts[0].partition!.devices + firstParts[1].partition!.devices, fleet.length);
    const offers = triggersOf(whole).filter((t) => t.purpose === 'marketing');
    assert.ok(offers.length >= 2, `offers a fortnight before: ${offers.length}`);
    const at = new Date(earlier + DAY).toISOString();
    for (const t of offers) {
      const fb = { outcome: 'declined' as const, at, receivedAt: at, by: 'test' };
      await whole.state.addFeedback(t.id, fb, [], earlier + DAY);
      const owner = parts.find((p) => p.state.get(t.id));
      assert.ok(owner, `trigger ${t.id} is in one of the partitions`);
      await owner.state.addFeedback(t.id, fb, [], earlier + DAY);
    }
    const one = await whole.run({ asOfMs: END });
    const two = await Promise.all(parts.map((p) => p.run({ asOfMs: END })));
    assert.deepEqual([...triggersOf(parts[0]), ...triggersOf(parts[1])].sort((x, y) => x.id.localeCompare(y.id)), triggersOf(whole));
    assert.deepEqual(reasons(...two), reasons(one));
    // The owner of the two heavy-use washers declined the warranty offered for one of them (the
    // other was capped then): the other's offer is held back as declined, in both set-ups.
    assert.ok((one.suppressed.declined ?? 0) >= 1, `a declined offer type was held back on the owner's other washer: ${JSON.stringify(one.suppressed)}`);
    assert.equal(two[0].fired + two[1].fired, one.fired);
  });
});

describe('usage-gateway analytics features build', () => {
  test('builds the days the layer lacks from raw readings, with progress, and says what it did; a bad range is refused', async () => {
    const o = { url: env.influxUrl, database: env.database, retentionDays: 400, requestTimeoutMs: 60_000 };
    for (const m of [FEATURE_LAYER.daily, FEATURE_LAYER.days]) await postQuery(o, `DROP MEASUREMENT "${m}"`);
    const cliEnv = { UG_DATA_DIR: env.dir, UG_INFLUX_URL: env.influxUrl, UG_INFLUX_DATABASE: env.database, UG_INFLUX_ROLLUPS: 'false', UG_ANALYTICS_DELIVERY_MQTT: 'false', UG_LOG_LEVEL: 'error' };
    const range = ['--from', new Date(END - 30 * DAY).toISOString(), '--to', new Date(END).toISOString()];
    const first = await runCli(['analytics', 'features', 'build', ...range, '--json'], cliEnv);
    assert.equal(first.code, 0, first.stderr);
    const summary = JSON.parse(first.stdout) as { daysBuilt: number; rowsWritten: number; queries: number };
    assert.equal(summary.daysBuilt, 30);
    assert.ok(summary.rowsWritten > fleet.length * 10, `device-days written: ${summary.rowsWritten}`);
    assert.match(first.stderr, /features 30\/30 days/, 'progress on stderr');
    const again = await runCli(['analytics', 'features', 'build', ...range], cliEnv);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 day\(s\) built \(the others were there already\)/);
    const rebuilt = await runCli(['analytics', 'features', 'build', ...range, '--rebuild', '--json'], cliEnv);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.equal((JSON.parse(rebuilt.stdout) as { daysBuilt: number }).daysBuilt, 30, '--rebuild builds every day again');
    const bad = await runCli(['analytics', 'features', 'build', '--from', 'now', '--to', '-3d'], cliEnv);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /GW_ERR_USAGE.*--to must be after --from|--to must be after --from.*GW_ERR_USAGE/s);
  });
});

describe('late readings', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ influxUrl: env.influxUrl });
  });
  after(() => gw?.stop());

  test('readings that reach the gateway three days late change their days in the layer, and the next run fires on them', async () => {
    // The runs look at the days before `today`, a day back: every one of them ended more than
    // an hour ago, so readings of them that arrive now are late whatever the time of day.
    const today = Math.floor(Date.now() / DAY) * DAY - DAY;
    const washer = await gw.addDevice({ kind: 'washer', model: 'WM-8', owner: 'late-owner' });
    const client = await connect(gw.mqttUrl, washer.id, washer.secret);
    try {
      // 24 days of one ordinary wash a day (5 kg in an 8 kg drum), received on their day…
      const history = Array.from({ length: 24 }, (_, i) => washerCycle({ ts: new Date(today - (27 - i) * DAY + 9 * 3_600_000).toISOString(), load_kg: 5 }));
      // (sent now, they are late too: their days are built after they are stored, as here)
      await client.publishAsync(`devices/${washer.id}/telemetry`, JSON.stringify(history), { qos: 1 });
      const dir = gw.dir;
      const config = loadConfig({ env: {}, overrides: { dataDir: dir, log: { level: 'silent' }, influx: { url: env.influxUrl, database: gw.database, rollups: false }, analytics: { stateDir: join(dir, 'analytics'), delivery: { mqtt: false } } } });
      const a = createAnalytics(config, { log: pino({ level: 'silent' }) });
      try {
        await gw.waitForCount('washer_cycle', 24);
        const first = await a.run({ asOfMs: today, ruleIds: ['washer-overloaded'] });
        assert.equal(first.fired, 0, 'ordinary loads: no offer');
        const day3 = today - 3 * DAY;
        const dayValue = async () => {
          // The day's slot in its 7-day block, and its place in the day's list of features.
          const [row] = await gw.store.query<{ f: string }>(`SELECT "f" FROM "${FEATURE_LAYER.daily}" WHERE "device_id" = '${washer.id}' AND time = ${blockOf(day3)}ms`);
          const [day] = await gw.store.query<{ keys: string }>(`SELECT "keys" FROM "${FEATURE_LAYER.days}" WHERE time = ${day3}ms`);
          const slot = row ? (JSON.parse(row.f) as Array<Slot | null>)[(day3 - blockOf(day3)) / DAY] : null;
          return slot ? slot[1][(JSON.parse(day.keys) as Record<string, string[]>).washer.indexOf('washer_cycle.count.load_kg')] : null;
        };
        assert.equal(await dayValue(), null, 'no wash three days ago yet');
        // …then the machine comes back online with three days of overloaded washes (10 kg).
        const backlog = [3, 2, 1].flatMap((d) => Array.from({ length: 8 }, (_, k) => washerCycle({ ts: new Date(today - d * DAY + (8 + k) * 3_600_000).toISOString(), load_kg: 10 })));
        await client.publishAsync(`devices/${washer.id}/telemetry`, JSON.stringify(backlog), { qos: 1 });
        assert.equal(await gw.waitForCount(FEATURE_LAYER.late, 27, { where: `"device_id" = '${washer.id}'` }), 27, 'the gateway marked each late day');
        const next = await a.run({ asOfMs: today, ruleIds: ['washer-overloaded'] });
        assert.equal(await dayValue(), 8, 'the day three days ago now holds its 8 washes');
        assert.ok(next.layer && next.layer.rowsWritten >= 3, `late days recomputed: ${JSON.stringify(next.layer)}`);
        assert.equal(next.fired, 1, 'the run sees the overloaded washes');
        const [t] = triggersOf(a);
        assert.equal(t.deviceId, washer.id);
        assert.equal(t.evidence.figures.overloaded_cycles, 24);
        assert.equal(t.evidence.figures.cycles, 48);
        // Once recomputed, the next run recomputes nothing.
        const third = await a.run({ asOfMs: today, ruleIds: ['washer-overloaded'] });
        assert.equal(third.layer?.rowsWritten, 0);
        // The layer is the device's data: its owner sees it in their report, and it leaves with the device.
        const report = await buildOwnerReport('late-owner', a);
        const shown = new Map(report.devices[0].data.map((x) => [x.measurement, x.points]));
        assert.ok((shown.get(FEATURE_LAYER.daily) ?? 0) >= 4, `the report lists the layer: ${JSON.stringify([...shown])}`);
        assert.equal(shown.get(FEATURE_LAYER.late), 27);
        const erased = await gw.store.eraseDevice(washer.id);
        assert.ok(erased.points[`raw.${FEATURE_LAYER.daily}`] >= 4, `erased: ${JSON.stringify(erased.points)}`);
        assert.deepEqual(await gw.store.devicePoints(washer.id), {});
      } finally {
        await a.stop();
      }
    } finally {
      await close(client);
    }
  });
});
