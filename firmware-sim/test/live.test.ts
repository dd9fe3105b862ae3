import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { dayFloor, DEFAULT_MIX } from '../fleet.ts';
import { readFleetFile } from '../manifest.ts';
import { LiveFleet, type LiveStatus } from '../modes/live.ts';
import { provisionFleet } from '../modes/provision.ts';
import { DeviceSim } from '../generate.ts';
import { catalogue } from './fixtures.ts';

/** Sum of a Prometheus metric over its label sets. */
function metricSum(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

describe('live through a real gateway', { timeout: 300_000 }, () => {
  let t: TestGateway;
  before(async () => {
    t = await startTestGateway();
  });
  after(async () => {
    await t?.stop();
  });

  it('1,000 devices hold their connections (all but the machines replaced earlier), the gateway reports them, and readings flow', async () => {
    const N = 1_000;
    const fleetPath = join(t.dir, 'sim', 'fleet.json');
    const fleet = await provisionFleet({
      // No silent devices here: a silent device stays offline, and this test counts connections.
      registry: t.gateway.registry, catalogue, devices: N, mix: DEFAULT_MIX, seed: 9, prefix: 'lv', faultShare: 0, personaShares: { 'silent-device': 0 },
      epochMs: dayFloor(Date.now()), fleetPath, manifestPath: join(t.dir, 'sim', 'fleet.manifest.json'),
    });
    // A realistic fleet also keeps offline the machines replaced before the clock starts.
    const fromMs = Date.now() - 6 * 3_600_000;
    const online = fleet.devices.filter((d) => new DeviceSim(fleet, d, catalogue).reports(fromMs)).length;
    const { secrets } = await readFleetFile(fleetPath);
    let gatewayCount = -1;
    let sawAll: LiveStatus | null = null;
    let checking = false;
    const devices: LiveFleet = new LiveFleet({
      fleet, catalogue, target: { url: t.mqttUrl, secrets }, speed: 3_600, fromMs,
      connectRate: 500, statusEveryMs: 100, durationMs: 240_000,
      onStatus: (s) => {
        if (s.connected < online || checking || sawAll) return;
        checking = true;
        // Every device is connected: ask the gateway what it sees, then stop.
        void fetch(`${t.httpUrl}/metrics`).then((r) => r.text()).then((text) => {
          gatewayCount = metricSum(text, 'ug_connected_devices');
          sawAll = s;
          void devices.stop();
        });
      },
    });
    devices.start();
    const end = await devices.ended;
    assert.ok(sawAll, `only ${end.connected} of ${online} devices connected`);
    assert.ok(online >= N * 0.97 && online <= fleet.devices.length, `${online} of ${fleet.devices.length} devices report`);
    assert.equal(gatewayCount, online);
    assert.equal(end.figures.failedDevices, 0);
    assert.ok(end.figures.acked > 1_000, `acked ${end.figures.acked}`);
    assert.equal(end.figures.refused, 0);
    process.stderr.write(`# live: ${online} devices connected, gateway reports ${gatewayCount}; ${end.figures.acked} readings acked in ${(end.figures.durationMs / 1000).toFixed(1)} s\n`);
  });
});
