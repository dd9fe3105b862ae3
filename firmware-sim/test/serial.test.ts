import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ptyPair, startBridgeProcess, type BridgeProcess, type PtyPair } from '../../test/harness/pty.ts';
import { startTestGateway, type TestGateway } from '../../test/harness/gateway.ts';
import { runCli } from '../../test/harness/process.ts';
import { dayFloor } from '../fleet.ts';
import { DeviceSim } from '../generate.ts';
import { benchFleet } from '../modes/serial.ts';
import { catalogue, DAY } from './fixtures.ts';

const MEASUREMENT: Record<string, string> = { washer: 'washer_cycle', fridge: 'fridge_state', car: 'car_trip' };

describe('`sim serial` on one end of a pty pair, the serial bridge on the other', { timeout: 180_000 }, () => {
  let gw: TestGateway;
  let dir: string;
  const cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    gw = await startTestGateway();
    dir = await mkdtemp(join(tmpdir(), 'ug-sim-serial-'));
  });
  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
    await gw?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const cases = [
    // Kind and model from the registry; key=value lines.
    { kind: 'fridge', format: 'kv', flags: [] as string[], hoursBack: 6, count: 30, speed: 100_000 },
    // Kind and model named; JSON lines; a car stamps its trips with RFC 3339 times.
    { kind: 'car', format: 'json', flags: ['--kind', 'car', '--model', 'CAR-CITY-EV', '--persona', 'car-battery-decline'], hoursBack: 96, count: 6, speed: 100_000 },
  ];

  for (const c of cases) {
    it(`${c.kind}, ${c.format} lines: the simulator's own readings arrive in InfluxDB, exactly`, async () => {
      const named = c.flags.includes('--model') ? c.flags[c.flags.indexOf('--model') + 1] : undefined;
      const dev = await gw.addDevice({ kind: c.kind, model: named });
      const pair: PtyPair = await ptyPair(dir, [`${c.kind}-bridge`, `${c.kind}-device`]);
      cleanups.push(() => pair.stop());
      const env = { UG_DATA_DIR: join(dir, `cli-${c.kind}`), UG_REGISTRY_PATH: gw.config.registry.path };
      const bridge: BridgeProcess = await startBridgeProcess(['--port', pair.a, '--device', dev.id, '--secret', dev.secret, '--format', c.format, '--mqtt-url', gw.mqttUrl], env);
      cleanups.push(() => bridge.kill());

      const now = Date.now();
      const epoch = new Date(dayFloor(now)).toISOString().slice(0, 10);
      // The same readings, computed here from the same pure generation. The window starts far
      // enough back to hold `count` readings before now, whatever the time of day: with fewer,
      // the simulated clock would reach now and wait for trips in real time.
      const persona = c.flags.includes('--persona') ? c.flags[c.flags.indexOf('--persona') + 1] : undefined;
      const fleet = benchFleet({ id: dev.id, kind: c.kind, model: dev.model, persona, seed: 5, epochMs: Date.parse(epoch), catalogue });
      const window = (hours: number) => [...new DeviceSim(fleet, fleet.devices[0], catalogue).readings(Date.parse(new Date(now - hours * 3_600_000).toISOString()), now + DAY)].slice(0, c.count);
      let hoursBack = c.hoursBack;
      while (!(window(hoursBack).length === c.count && window(hoursBack)[c.count - 1].timeMs <= now) && hoursBack < 24 * 28) hoursBack += 24;
      const since = new Date(now - hoursBack * 3_600_000).toISOString();
      const expected = window(hoursBack);
      const sim = await runCli(['sim', 'serial', '--port', pair.b, '--device', dev.id, ...c.flags, '--seed', '5', '--epoch', epoch,
        '--since', since, '--speed', String(c.speed), '--count', String(c.count), '--format', c.format, '--rate', '200', '--quiet'], env);
      assert.equal(sim.code, 0, sim.stderr);
      assert.match(sim.stdout, new RegExp(`^wrote ${c.count} lines \\(`), sim.stdout);

      assert.equal(expected.length, c.count, 'enough readings in the window');
      assert.ok(expected[c.count - 1].timeMs <= now, 'all of them before now, so the simulated clock reached them');
      const telemetry = expected.filter((r) => r.channel === 'telemetry');
      const events = expected.filter((r) => r.channel === 'events');

      const m = MEASUREMENT[c.kind];
      const where = `device_id = '${dev.id}'`;
      assert.equal(await gw.waitForCount(m, telemetry.length, { where }), telemetry.length);
      assert.equal(await gw.count('device_event', where), events.length);
      const rows = await gw.query<{ time: Date; [k: string]: unknown }>(`SELECT * FROM "${m}" WHERE ${where} ORDER BY time`);
      assert.deepEqual(rows.map((r) => new Date(r.time).getTime()), telemetry.map((r) => r.timeMs), 'stored at the simulated times');
      // Field for field, as the device printed them (kv lines coerced back to the schema's types).
      for (const [i, r] of telemetry.entries()) {
        const { type: _t, ts: _ts, ...fields } = r.reading;
        for (const [k, v] of Object.entries(fields)) assert.equal(rows[i][k], v, `${dev.id} reading ${i} ${k}`);
      }

      const stopped = await bridge.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, new RegExp(`${dev.id}: ${c.count} lines, ${c.count} readings acknowledged by the gateway, none refused`));
    });
  }
});
