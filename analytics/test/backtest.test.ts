import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../config/load.ts';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { testInflux } from '../../test/harness/influx.ts';
import { formatReport, type BacktestReport } from '../backtest/backtest.ts';
import { backfillSim } from '../../test/harness/sim-fleet.ts';

// Issue 5, test 1: on a simulated fleet (1,000 devices, 90 days, planted personas) every rule
// has precision and recall of at least 0.9 against the simulator's manifest, as
// `usage-gateway analytics backtest --manifest` measures and prints it.
// The fleet's epoch is fixed so that the test sees the same draw on every run (the simulator's
// days are seeded by their date); the retention is long enough that the history stays writable.
const DAY = 86_400_000;
const EPOCH = Date.UTC(2026, 10, 23);
const SEED = 20_251;
const run = promisify(execFile);

let influx: { url: string; stop(): Promise<void> };
let dir: string;
let database: string;
let store: InfluxStore;
let env: NodeJS.ProcessEnv;
let manifestPath: string;

before(async () => {
  influx = await testInflux();
  dir = await mkdtemp(join(tmpdir(), 'ug-backtest-'));
  database = `bt_${randomBytes(5).toString('hex')}`;
  const config = loadConfig({ env: {}, overrides: { dataDir: dir, influx: { url: influx.url, database, rollups: false, retentionDays: 36_500, requestTimeoutMs: 120_000 } } });
  store = createInfluxStore(config.influx);
  await store.ensureDatabase();
  env = { ...process.env, UG_DATA_DIR: dir, UG_INFLUX_URL: influx.url, UG_INFLUX_DATABASE: database, UG_INFLUX_ROLLUPS: 'false', UG_INFLUX_RETENTION_DAYS: '36500', UG_LOG_LEVEL: 'silent' };
});
after(async () => {
  await store?.query(`DROP DATABASE "${database}"`).catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
  await influx?.stop();
});

const cli = (...args: string[]) => run(process.execPath, ['bin/usage-gateway.mjs', 'analytics', 'backtest', ...args], { env, maxBuffer: 64 << 20 });

test(`1,000 devices × 90 days (seed ${SEED}): every rule has precision and recall ≥ 0.9 against the manifest`, async (t) => {
  const catalogue = loadCatalogue(loadConfig({ env: {} }).models.path);
  const { manifest, points } = await backfillSim(store, catalogue, { seed: SEED, devices: 1_000, epochMs: EPOCH, days: 90, prefix: 'bt' });
  assert.ok(points > 1_000_000, `expected a real history, got ${points} points`);
  manifestPath = join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest));
  t.diagnostic(`backfilled ${points} points of ${manifest.devices.length} devices`);

  const { stdout } = await cli('--from', new Date(EPOCH - 90 * DAY).toISOString(), '--to', new Date(EPOCH).toISOString(), '--manifest', manifestPath, '--json');
  const report = JSON.parse(stdout) as BacktestReport;
  for (const line of formatReport(report).split('\n')) t.diagnostic(line);
  assert.equal(report.devices, 1_000);
  assert.ok(report.rules.length >= 10);
  for (const r of report.rules) {
    assert.ok(r.truth, `${r.ruleId} names no persona`);
    assert.ok(r.truth.positives >= 10, `${r.ruleId}: only ${r.truth.positives} planted devices, too few to measure`);
    assert.ok(r.truth.precision >= 0.9, `${r.ruleId}: precision ${r.truth.precision.toFixed(3)}; false positives ${r.truth.falsePositives.join(', ')}`);
    assert.ok(r.truth.recall >= 0.9, `${r.ruleId}: recall ${r.truth.recall.toFixed(3)}; missed ${r.truth.missed.join(', ')}`);
  }
});

test('the backtest command prints the table for the rules asked for, and refuses an unknown rule', async () => {
  assert.ok(manifestPath, 'needs the fleet of the first test');
  const { stdout } = await cli('--from', new Date(EPOCH - 90 * DAY).toISOString(), '--to', new Date(EPOCH).toISOString(), '--rule', 'washer-overloaded,car-health', '--manifest', manifestPath);
  // The devices of the kinds the rules look at: washers and cars.
  assert.match(stdout, /^Backtest 2026-08-25 → 2026-11-23: 700 devices, \d+ evaluation steps/m);
  assert.match(stdout, /^rule\s+devices\s+fired\s+personas\s+planted\s+tp\s+fp\s+fn\s+precision\s+recall$/m);
  assert.match(stdout, /^washer-overloaded\s+\d+\s+\d+\s+washer-overloader\s+\d+\s+\d+\s+\d+\s+\d+\s+(0\.9\d\d|1\.000)\s+(0\.9\d\d|1\.000)$/m);
  assert.match(stdout, /^car-health\s/m);
  assert.doesNotMatch(stdout, /^device-silent\s/m);
  const bad = await cli('--from', '-90d', '--to', 'now', '--rule', 'nope', '--manifest', manifestPath).then(() => null, (err: { code: number; stderr: string }) => err);
  assert.ok(bad, 'an unknown rule must fail');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /GW_ERR_USAGE/);
  assert.match(bad.stderr, /no rule "nope"/);
});
