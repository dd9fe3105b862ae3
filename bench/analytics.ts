import { spawn } from 'node:child_process';
import { CLI } from '../test/harness/process.ts';
import { DeviceSim } from '../firmware-sim/generate.ts';
import { readingsToLines } from '../gateway/writer/index.ts';
import { decodeReadings } from '../protocol/readings.ts';
import type { ReadingChannel } from '../protocol/topics.ts';
import { benchInflux, storeFor, tempDir } from './lib/env.ts';
import { benchFleet, catalogue, provision } from './lib/fleet.ts';
import { memory, ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';

export interface AnalyticsOptions {
  quick: boolean;
  fleets: number[];
  days: number;
}

const DAY_MS = 86_400_000;

/**
 * One full run of every rule over fleets of simulated devices with `days` of history. The
 * history is written straight to InfluxDB (not through MQTT, for speed): the simulator's
 * readings, decoded and formatted by the gateway's own code, so the points are the ones the
 * gateway would have stored. The run is `usage-gateway analytics run` in its own process.
 */
export async function runAnalytics(o: AnalyticsOptions): Promise<{ ok: boolean }> {
  const log = progress('analytics');
  const influx = await benchInflux();
  const influxWatch = new ProcWatch(influx.pid, 'influxd');
  const runs: Array<Record<string, number | string>> = [];
  try {
    for (const n of o.fleets) {
      const dir = await tempDir('ug-bench-an-');
      try {
        const database = `bench_analytics_${n}`;
        const fleet = benchFleet(n, 'an');
        log(`${n} devices: provisioning…`);
        await provision(dir.dir, fleet, () => {});
        const store = storeFor(influx.url, database);
        await store.ensureDatabase();
        const toMs = Date.now();
        const fromMs = toMs - o.days * DAY_MS;
        const t0 = performance.now();
        const points = await backfill(fleet, fromMs, toMs, influx.url, database, (done, pts) => log(`${n} devices: backfill ${done}/${n} devices, ${fmt.int(pts)} points`));
        const backfillS = (performance.now() - t0) / 1000;
        log(`${n} devices: ${fmt.int(points)} points in ${backfillS.toFixed(0)} s (${fmt.int(points / backfillS)} points/s); running the rules…`);
        influxWatch.mark();
        const run = await analyticsRun(dir.dir, influx.url, database);
        const inf = influxWatch.read();
        const r = {
          devices: n, days: o.days, points, backfillS: Math.round(backfillS), wallS: Math.round(run.wallS * 10) / 10, runS: Math.round(run.summary.durationMs / 100) / 10,
          peakRssMiB: Math.round(run.peakRss / 2 ** 20), cpuS: Math.round(run.cpuS * 10) / 10, influxCpuS: Math.round(inf.cpuS * 10) / 10,
          queries: run.summary.queries, candidates: run.summary.candidates, fired: run.summary.fired,
        };
        runs.push(r);
        log(`${n} devices: run ${r.runS} s (process ${r.wallS} s), peak RSS ${r.peakRssMiB} MiB, ${r.queries} queries, ${r.fired} triggers`);
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
    const pending: Record<ReadingChannel, Array<Record<string, unknown>>> = { telemetry: [], events: [] };
    const emit = (channel: ReadingChannel) => {
      const rs = pending[channel];
      if (rs.length === 0) return;
      const res = decodeReadings(Buffer.from(JSON.stringify(rs)), { kind: d.kind, channel, receivedAtMs: toMs, maxAgeMs: 400 * DAY_MS, maxFutureSkewMs: 300_000 });
      if (res.readings.length > 0) {
        buf.push(readingsToLines(res.readings, { deviceId: d.id, kind: d.kind, model: d.model }));
        bufLines += res.readings.length;
      }
      pending[channel] = [];
    };
    for (const r of sim.readings(fromMs, toMs)) {
      if (r.expect !== 'ok') continue;
      pending[r.channel].push(r.reading);
      if (pending[r.channel].length >= 1_000) emit(r.channel);
    }
    emit('telemetry');
    emit('events');
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
function analyticsRun(dataDir: string, influxUrl: string, database: string): Promise<{ wallS: number; peakRss: number; cpuS: number; summary: RunSummaryJson }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, 'analytics', 'run', '--json', '--deliver-ms', '0'], {
      env: { ...process.env, UG_DATA_DIR: dataDir, UG_INFLUX_URL: influxUrl, UG_INFLUX_DATABASE: database, UG_ANALYTICS_DELIVERY_MQTT: 'false', UG_LOG_LEVEL: 'warn' },
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
