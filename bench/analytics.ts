import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../test/harness/process.ts';
import { DeviceSim } from '../firmware-sim/generate.ts';
import { readingsToLines } from '../core/influx/index.ts';
import { DAY_MS } from '../core/time.ts';
import { readingsFor } from '../protocol/kinds/index.ts';
import { tsToMillis } from '../protocol/reading-def.ts';
import type { Reading } from '../protocol/readings.ts';
import { startLocalInflux } from '../test/harness/influx-local.ts';
import { benchInflux, storeFor, tempDir } from './lib/env.ts';
import { benchFleet, catalogue, provision } from './lib/fleet.ts';
import { memory, ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';

export interface AnalyticsOptions {
  quick: boolean;
  fleets: number[];
  days: number;
  /**
   * Keep the backfilled InfluxDB and registries in this folder and reuse them on the next run
   * with the same fleet sizes and days (a 10,000-device backfill takes a while).
   */
  keep?: string;
}


/**
 * One full run of every rule over fleets of simulated devices with `days` of history. The
 * history is written straight to InfluxDB (not through MQTT, for speed): the simulator's
 * readings, decoded and formatted by the gateway's own code, so the points are the ones the
 * gateway would have stored. The run is `usage-gateway analytics run` in its own process.
 */
export async function runAnalytics(o: AnalyticsOptions): Promise<{ ok: boolean }> {
  const log = progress('analytics');
  const influx = o.keep ? await startLocalInflux({ dataDir: join(o.keep, 'influxdb') }) : await benchInflux();
  const influxWatch = new ProcWatch(influx.process!.pid!, 'influxd');
  const runs: Array<Record<string, number | string>> = [];
  try {
    for (const n of o.fleets) {
      const dir = o.keep ? { dir: join(o.keep, `fleet-${n}-${o.days}d`), remove: async () => {} } : await tempDir('ug-bench-an-');
      try {
        const database = `bench_analytics_${n}_${o.days}d`;
        const marker = join(dir.dir, 'backfilled.json');
        let done = o.keep ? await readFile(marker, 'utf8').then((t) => JSON.parse(t) as { points: number; toMs: number; backfillS: number }, () => null) : null;
        if (done) {
          log(`${n} devices: reusing the history backfilled before (${fmt.int(done.points)} points up to ${new Date(done.toMs).toISOString()})`);
        } else {
          await mkdir(dir.dir, { recursive: true });
          const fleet = benchFleet(n, 'an');
          log(`${n} devices: provisioning…`);
          await provision(dir.dir, fleet, () => {});
          await storeFor(influx.url, database).ensureDatabase();
          const toMs = Date.now();
          const t0 = performance.now();
          const points = await backfill(fleet, toMs - o.days * DAY_MS, toMs, influx.url, database, (k, pts) => log(`${n} devices: backfill ${k}/${n} devices, ${fmt.int(pts)} points, ${fmt.int(pts / ((performance.now() - t0) / 1000))} points/s`));
          done = { points, toMs, backfillS: Math.round((performance.now() - t0) / 1000) };
          if (o.keep) await writeFile(marker, JSON.stringify(done));
          log(`${n} devices: ${fmt.int(points)} points in ${done.backfillS} s; running the rules…`);
        }
        // A fresh analytics state each run: triggers from an earlier run would be held back by cooldowns.
        const state = await tempDir('ug-bench-an-state-');
        influxWatch.mark();
        const run = await analyticsRun(dir.dir, state.dir, influx.url, database, done.toMs).finally(() => state.remove());
        const inf = influxWatch.read();
        const r = {
          devices: n, days: o.days, points: done.points, backfillS: done.backfillS, wallS: Math.round(run.wallS * 10) / 10, runS: Math.round(run.summary.durationMs / 100) / 10,
          peakRssMiB: Math.round(run.peakRss / 2 ** 20), cpuS: Math.round(run.cpuS * 10) / 10, influxCpuS: Math.round(inf.cpuS * 10) / 10,
          queries: run.summary.queries, candidates: run.summary.candidates, fired: run.summary.fired,
        };
        runs.push(r);
        log(`${n} devices: run ${r.runS} s (process ${r.wallS} s), peak RSS ${r.peakRssMiB} MiB, CPU ${r.cpuS} s, influxd CPU ${r.influxCpuS} s, ${r.queries} queries, ${r.fired} triggers`);
      } finally {
        await dir.remove();
      }
    }
    const big = runs.find((r) => r.devices === 10_000);
    const [a, b] = [runs[0], runs.at(-1)!];
    const growth = runs.length > 1 ? { devices: Number(b.devices) / Number(a.devices), time: Number(b.runS) / Number(a.runS), memory: Number(b.peakRssMiB) / Number(a.peakRssMiB) } : null;
    const targets: Target[] = [
      { what: `analytics, 10,000 devices × ${o.days} days`, target: '≤ 60 s', measured: big ? `${big.runS} s` : '-', met: big ? Number(big.runS) <= 60 : null },
    ];
    const results = { benchmark: 'analytics', at: new Date().toISOString(), machine: machine(), options: o, runs, growth, targets };
    const path = await saveResults('analytics', results);
    process.stdout.write(`\nAnalytics: one run of every rule over ${o.days} days of history\n`);
    process.stdout.write(`${table([['devices', 'points', 'run (engine)', 'process wall', 'peak RSS', 'CPU', 'influxd CPU', 'queries', 'triggers'], ...runs.map((r) => [fmt.int(Number(r.devices)), fmt.int(Number(r.points)), `${r.runS} s`, `${r.wallS} s`, `${r.peakRssMiB} MiB`, `${r.cpuS} s`, `${r.influxCpuS} s`, r.queries, r.fired])])}\n`);
    if (growth) process.stdout.write(`\n${growth.devices}× the devices: ${growth.time.toFixed(2)}× the time, ${growth.memory.toFixed(2)}× the peak memory\n`);
    process.stdout.write(`\n${targetsTable(targets)}\n\nresults: ${path}\n`);
    return { ok: targets.every((t) => t.met !== false) };
  } finally {
    await influx.stop();
  }
}

/** Writes the fleet's history to InfluxDB in 5,000-line batches, two writes in flight. */
async function backfill(fleet: ReturnType<typeof benchFleet>, fromMs: number, toMs: number, url: string, database: string, onProgress: (done: number, points: number) => void): Promise<number> {
  const writeUrl = `${url}/write?db=${database}&precision=ns`;
  const inFlight = new Set<Promise<void>>();
  let buf: string[] = [];
  let bufLines = 0;
  let points = 0;
  let lastReport = performance.now();
  const flush = async () => {
    if (buf.length === 0) return;
    const body = buf.join('\n');
    points += bufLines;
    buf = [];
    bufLines = 0;
    while (inFlight.size >= 2) await Promise.race(inFlight);
    const p = fetch(writeUrl, { method: 'POST', body }).then(async (res) => {
      const text = await res.text();
      if (res.status !== 204) throw new Error(`InfluxDB refused a backfill write: HTTP ${res.status} ${text.slice(0, 200)}`);
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  for (let i = 0; i < fleet.devices.length; i++) {
    const d = fleet.devices[i];
    const sim = new DeviceSim(fleet, d, catalogue);
    const defs = { telemetry: readingsFor(d.kind, 'telemetry')!, events: readingsFor(d.kind, 'events')! };
    const readings: Reading[] = [];
    // The simulator's readings are valid by construction (no faults in this fleet), so they
    // are taken apart here rather than validated again; the lines are the gateway's own.
    for (const r of sim.readings(fromMs, toMs)) {
      if (r.expect !== 'ok') continue;
      const { type, ts, seq, ...values } = r.reading as { type: string; ts: number | string; seq?: number };
      readings.push({ def: defs[r.channel].get(type)!, timeMs: tsToMillis(ts), seq, values });
    }
    if (readings.length > 0) {
      buf.push(readingsToLines(readings, { deviceId: d.id, kind: d.kind, model: d.model }));
      bufLines += readings.length;
    }
    if (bufLines >= 5_000) await flush();
    if (performance.now() - lastReport > 3_000) {
      lastReport = performance.now();
      onProgress(i + 1, points);
    }
  }
  await flush();
  await Promise.all(inFlight);
  onProgress(fleet.devices.length, points);
  return points;
}

interface RunSummaryJson {
  durationMs: number;
  queries: number;
  candidates: number;
  fired: number;
}

/** `usage-gateway analytics run --json` in a child process; its peak RSS sampled from /proc. */
function analyticsRun(dataDir: string, stateDir: string, influxUrl: string, database: string, asOfMs: number): Promise<{ wallS: number; peakRss: number; cpuS: number; summary: RunSummaryJson }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, 'analytics', 'run', '--json', '--deliver-ms', '0', '--as-of', new Date(asOfMs).toISOString()], {
      env: { ...process.env, UG_DATA_DIR: dataDir, UG_ANALYTICS_STATE_DIR: stateDir, UG_INFLUX_URL: influxUrl, UG_INFLUX_DATABASE: database, UG_ANALYTICS_DELIVERY_MQTT: 'false', UG_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let peak = 0;
    let cpuS = 0;
    const watch = new ProcWatch(child.pid!, 'analytics');
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memory(child.pid!).peak);
        cpuS = watch.read().cpuS;
      } catch { /* exiting */ }
    }, 100);
    watch.mark();
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`analytics run exited with ${code}: ${err.slice(-2_000)}`));
      try {
        resolve({ wallS: (performance.now() - t0) / 1000, peakRss: peak, cpuS, summary: JSON.parse(out.slice(out.indexOf('{'))) });
      } catch (e) {
        reject(new Error(`analytics run printed no JSON summary: ${(e as Error).message}: ${out.slice(0, 500)}`));
      }
    });
  });
}
