import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { batches, expectedOf } from '../batch.ts';
import { dayFloor, DEFAULT_MIX, type Fleet } from '../fleet.ts';
import { DeviceSim } from '../generate.ts';
import { readFleetFile } from '../manifest.ts';
import { provisionFleet } from '../modes/provision.ts';
import { streamFleet } from '../modes/stream.ts';
import { catalogue, DAY } from './fixtures.ts';

const MEASUREMENT: Record<string, string> = { washer: 'washer_cycle', fridge: 'fridge_state', car: 'car_trip' };

/** What InfluxDB should hold per measurement, computed offline from the same pure generation. */
function expectedStored(fleet: Fleet, t: TestGateway, fromMs: number, toMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of fleet.devices) {
    const sim = new DeviceSim(fleet, d, catalogue);
    for (const b of batches(sim, fleet.seed, fromMs, toMs, { maxReadings: 500 })) {
      const m = b.channel === 'events' ? 'device_event' : MEASUREMENT[d.kind];
      out.set(m, (out.get(m) ?? 0) + expectedOf(b).keep);
    }
  }
  return out;
}

describe('backfill through a real gateway and InfluxDB', { timeout: 600_000 }, () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(async () => {
    await t?.stop();
  });

  it('stores exactly what the simulator reports as acknowledged and kept', async () => {
    const fleetPath = join(t.dir, 'sim', 'fleet.json');
    const fleet = await provisionFleet({
      registry: t.gateway.registry, catalogue: catalogue, devices: 200, mix: DEFAULT_MIX, seed: 42, prefix: 'bf',
      faultShare: 0.05, epochMs: dayFloor(Date.now()), fleetPath, manifestPath: join(t.dir, 'sim', 'fleet.manifest.json'),
    });
    const { secrets } = await readFleetFile(fleetPath);
    const toMs = Date.now();
    const fromMs = toMs - 30 * DAY;
    const figures = await streamFleet({
      mode: 'backfill', fleet, catalogue: catalogue, fromMs, toMs, target: { url: t.mqttUrl, secrets },
      concurrency: 50, inflight: 8, connectRate: 500, batch: { maxReadings: 500 },
    });
    assert.equal(figures.failedDevices, 0);
    assert.equal(figures.acked, figures.sent);
    assert.ok(figures.expectedRefused > 0 && figures.duplicates > 0, JSON.stringify(figures));
    assert.equal(figures.refused, figures.expectedRefused, 'the gateway refused exactly the readings broken on purpose');
    const want = expectedStored(fleet, t, fromMs, toMs);
    assert.equal(figures.kept, [...want.values()].reduce((a, b) => a + b, 0));
    for (const [measurement, n] of want) {
      const got = await t.waitForCount(measurement, n, { timeoutMs: 120_000 });
      assert.equal(got, n, measurement);
    }
    process.stderr.write(`# backfill 200 devices × 30 days: ${figures.acked} readings acked in ${(figures.durationMs / 1000).toFixed(1)} s (${Math.round(figures.acked / (figures.durationMs / 1000))}/s), ${figures.refused} refused, ${figures.duplicates} repeats\n`);
  });

  it('load goes round the fleet again with earlier readings: one connection per device, every reading stored', async () => {
    const fleetPath = join(t.dir, 'sim', 'load-fleet.json');
    const fleet = await provisionFleet({
      registry: t.gateway.registry, catalogue, devices: 6, mix: DEFAULT_MIX, seed: 3, prefix: 'ld',
      faultShare: 0, epochMs: dayFloor(Date.now()), fleetPath, manifestPath: join(t.dir, 'sim', 'load-fleet.manifest.json'),
    });
    const { secrets } = await readFleetFile(fleetPath);
    const toMs = Date.now();
    // More connections than devices, and a one-day range a device exhausts at once: only rounds
    // over earlier days keep the run busy, and a device must never be connected twice.
    const figures = await streamFleet({
      mode: 'load', fleet, catalogue, fromMs: toMs - DAY, toMs, target: { url: t.mqttUrl, secrets }, repeat: true, oldestMs: toMs - 60 * DAY,
      durationMs: 60_000, concurrency: 20, inflight: 4, connectRate: 1_000, batch: { maxReadings: 50 }, latency: true,
    });
    assert.equal(figures.failedDevices, 0, JSON.stringify(figures.failures));
    assert.equal(figures.acked, figures.sent);
    assert.ok(figures.latencyMs && figures.latencyMs.p50 > 0, JSON.stringify(figures.latencyMs));
    // 60 days in all, so the rounds went back 59 days before the first one.
    const want = expectedStored(fleet, t, toMs - 60 * DAY, toMs);
    assert.equal(figures.kept, [...want.values()].reduce((a, b) => a + b, 0), 'every round of every device sent');
    for (const [measurement, n] of want) {
      assert.equal(await t.waitForCount(measurement, n, { where: "device_id =~ /^ld-/", timeoutMs: 60_000 }), n, measurement);
    }
  });
});
