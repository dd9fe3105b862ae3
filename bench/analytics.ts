import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI } from '../test/harness/process.ts';
import { DeviceSim } from '../firmware-sim/generate.ts';
import { escString, escTag, FEATURE_LAYER, postQuery, readingsToLines, timeNs } from '../core/influx/index.ts';
import { DAY_MS } from '../core/time.ts';
import { readingsFor } from '../protocol/kinds/index.ts';
import { tsToMillis } from '../protocol/reading-def.ts';
import type { Reading } from '../protocol/readings.ts';
import { startLocalInflux } from '../test/harness/influx-local.ts';
import { DEFAULT_RULES_PATH, loadRules } from '../analytics/rules.ts';
import { benchInflux, storeFor, tempDir } from './lib/env.ts';
import { benchFleet, catalogue, provision } from './lib/fleet.ts';
import { memory, MiB, ProcWatch } from './lib/proc.ts';
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
  /** Fleets up to this size get raw history (and a layer built from it); larger ones a layer written directly. Default 10,000. */
  rawUpTo?: number;
  /** Fleets up to this size also get the baseline run over raw readings. Default 10,000. */
  baselineUpTo?: number;
  /** Runs over the layer per fleet (the best is reported, all are listed). Default 2. */
  repeat?: number;
  /** analytics.concurrency of the runs; default the setting's. */
  concurrency?: number;
}


/**
 * Runs of every rule over fleets of simulated devices with `days` of history. The history is
 * written straight to InfluxDB (not through MQTT, for speed): the simulator's readings, decoded
 * and formatted by the gateway's own code, so the points are the ones the gateway would have
 * stored. Then, each in its own process (`usage-gateway analytics …`): the feature layer is
 * built from that history (`analytics features build`), a run reads it, and, as the baseline
 * of the same run, a run reads the raw readings instead (`analytics.features: raw`).
 *
 * A fleet larger than `rawUpTo` gets no raw history: its feature layer is written directly,
 * each device given the layer rows of a device of the same model in the largest fleet with raw
 * history (the simulator's own features, copied), and only the run over the layer is timed.
 */
export async function runAnalytics(o: AnalyticsOptions): Promise<{ ok: boolean }> {
  const log = progress('analytics');
  const influx = o.keep ? await startLocalInflux({ dataDir: join(o.keep, 'influxdb') }) : await benchInflux();
  const influxWatch = new ProcWatch(influx.process!.pid!, 'influxd');
  const runs: Array<Record<string, number | string | boolean>> = [];
  const rawUpTo = o.rawUpTo ?? 10_000;
  let source: { fleet: ReturnType<typeof benchFleet>; database: string; toMs: number } | undefined;
  try {
    for (const n of [...o.fleets].sort((a, b) => a - b)) {
      const dir = o.keep ? { dir: join(o.keep, `fleet-${n}-${o.days}d`), remove: async () => {} } : await tempDir('ug-bench-an-');
      try {
        const database = `bench_analytics_${n}_${o.days}d`;
        const store = storeFor(influx.url, database);
        const marker = join(dir.dir, 'backfilled.json');
        let done = o.keep ? await readFile(marker, 'utf8').then((t) => JSON.parse(t) as { points: number; toMs: number; backfillS: number; direct?: boolean }, () => null) : null;
        const fleet = benchFleet(n, 'an');
        const direct = n > rawUpTo;
        if (done) {
          log(`${n} devices: reusing the ${done.direct ? 'feature layer written' : 'history backfilled'} before (${fmt.int(done.points)} points up to ${new Date(done.toMs).toISOString()})`);
        } else {
          await mkdir(dir.dir, { recursive: true });
          log(`${n} devices: provisioning…`);
          await provision(dir.dir, fleet, () => {});
          await store.ensureDatabase();
          const t0 = performance.now();
          if (direct) {
            if (!source) throw new Error(`a fleet of ${n} devices copies the feature layer of a fleet with raw history: add one of at most ${rawUpTo} devices to --fleets`);
            const points = await copyLayer(influx.url, source, database, fleet, (k, rows) => log(`${n} devices: layer written for ${k}/${fleet.devices.length} devices, ${fmt.int(rows)} points`));
            done = { points, toMs: source.toMs, backfillS: Math.round((performance.now() - t0) / 1000), direct: true };
          } else {
            const toMs = Date.now();
            const points = await backfill(fleet, toMs - o.days * DAY_MS, toMs, influx.url, database, (k, pts) => log(`${n} devices: backfill ${k}/${n} devices, ${fmt.int(pts)} points, ${fmt.int(pts / ((performance.now() - t0) / 1000))} points/s`));
            done = { points, toMs, backfillS: Math.round((performance.now() - t0) / 1000) };
          }
          if (o.keep) await writeFile(marker, JSON.stringify(done));
          log(`${n} devices: ${fmt.int(done.points)} ${direct ? 'layer rows' : 'points'} in ${done.backfillS} s`);
        }
        const env = { UG_DATA_DIR: dir.dir, UG_INFLUX_URL: influx.url, UG_INFLUX_DATABASE: database };
        const r: Record<string, number | string | boolean> = { devices: n, days: o.days, points: done.points, layerWritten: direct ? 'directly' : 'built' };
        if (!direct) {
          // The layer from scratch: what a backfill of existing history costs.
          for (const m of [FEATURE_LAYER.daily, FEATURE_LAYER.days, FEATURE_LAYER.late]) {
            await postQuery({ url: influx.url, database, retentionDays: 400, requestTimeoutMs: 600_000 }, `DROP MEASUREMENT "${m}"`).catch(() => undefined);
          }
          log(`${n} devices: building the feature layer…`);
          influxWatch.mark();
          // Every day a run reads: the rules' longest window may reach before the history (empty days).
          const build = await child(['analytics', 'features', 'build', '--json', '--from', new Date(done.toMs - Math.max(o.days, maxWindowDays()) * DAY_MS).toISOString(), '--to', new Date(done.toMs).toISOString()], env);
          Object.assign(r, { buildS: round1(build.wallS), buildInfluxCpuS: round1(influxWatch.read().cpuS), buildPeakRssMiB: Math.round(build.peakRss / MiB), buildRows: build.summary.rowsWritten });
          log(`${n} devices: layer built in ${r.buildS} s (influxd CPU ${r.buildInfluxCpuS} s), ${fmt.int(Number(r.buildRows))} device-days`);
        }
        // The heap bound docs/operations.md gives for the analytics process, and one run without it.
        const heapMiB = heapBoundMiB(n);
        const unbounded = await timedRun(n, 'layer', dir.dir, influx.url, database, done.toMs, influxWatch, o.concurrency);
        log(`${n} devices: run over the layer with V8's default heap ${unbounded.runS} s, peak RSS ${unbounded.peakRssMiB} MiB`);
        const layerRuns: RunStat[] = [];
        for (let i = 0; i < (o.repeat ?? 2); i++) {
          layerRuns.push(await timedRun(n, 'layer', dir.dir, influx.url, database, done.toMs, influxWatch, o.concurrency, heapMiB));
          log(`${n} devices: run over the layer ${layerRuns.at(-1)!.runS} s, peak RSS ${layerRuns.at(-1)!.peakRssMiB} MiB, influxd CPU ${layerRuns.at(-1)!.influxCpuS} s, ${layerRuns.at(-1)!.queries} queries, ${layerRuns.at(-1)!.fired} triggers`);
        }
        const best = layerRuns.reduce((a, b) => (b.runS < a.runS ? b : a));
        Object.assign(r, { heapMiB, defaultHeapRunS: unbounded.runS, defaultHeapPeakRssMiB: unbounded.peakRssMiB, runS: best.runS, runsS: layerRuns.map((x) => x.runS).join(' / '), wallS: best.wallS, peakRssMiB: Math.max(...layerRuns.map((x) => x.peakRssMiB)), cpuS: best.cpuS, influxCpuS: best.influxCpuS, queries: best.queries, fired: best.fired });
        if (!direct && n <= (o.baselineUpTo ?? 10_000)) {
          const raw = await timedRun(n, 'raw', dir.dir, influx.url, database, done.toMs, influxWatch, o.concurrency);
          Object.assign(r, { rawRunS: raw.runS, rawPeakRssMiB: raw.peakRssMiB, rawInfluxCpuS: raw.influxCpuS, rawQueries: raw.queries, rawFired: raw.fired, sameTriggers: raw.fired === best.fired && raw.candidates === best.candidates });
          log(`${n} devices: baseline run over raw readings ${raw.runS} s, influxd CPU ${raw.influxCpuS} s, ${raw.fired} triggers`);
        }
        runs.push(r);
        if (!direct && (!source || n > source.fleet.devices.length)) source = { fleet, database, toMs: done.toMs };
      } finally {
        await dir.remove();
      }
    }
    const at = (n: number) => runs.find((r) => r.devices === n);
    const [ten, hundred] = [at(10_000), at(100_000)];
    const [a, b] = [runs[0], runs.at(-1)!];
    const growth = runs.length > 1 ? { devices: Number(b.devices) / Number(a.devices), time: Number(b.runS) / Number(a.runS), memory: Number(b.peakRssMiB) / Number(a.peakRssMiB) } : null;
    const targets: Target[] = [
      { what: `analytics run, 10,000 devices × ${o.days} days`, target: '≤ 15 s', measured: ten ? `${ten.runS} s` : '-', met: ten ? Number(ten.runS) <= 15 : null },
      { what: `analytics run, 100,000 devices × ${o.days} days`, target: '≤ 120 s', measured: hundred ? `${hundred.runS} s` : '-', met: hundred ? Number(hundred.runS) <= 120 : null },
      { what: 'peak RSS of that run (heap bound of docs/operations.md)', target: '≤ 500 MiB', measured: hundred ? `${hundred.peakRssMiB} MiB` : '-', met: hundred ? Number(hundred.peakRssMiB) <= 500 : null },
      { what: 'time per run against devices', target: 'no faster than linear', measured: growth ? `${growth.devices}× devices: ${growth.time.toFixed(2)}× time` : '-', met: growth ? growth.time <= growth.devices * 1.1 : null },
    ];
    const results = { benchmark: 'analytics', at: new Date().toISOString(), machine: machine(), options: o, runs, growth, targets };
    const path = await saveResults('analytics', results);
    process.stdout.write(`\nAnalytics: runs of every rule over ${o.days} days of history (best of ${o.repeat ?? 2} runs over the layer with the heap bound of docs/operations.md, and one with V8's default heap; the baseline reads raw readings)\n`);
    process.stdout.write(`${table([
      ['devices', 'history', 'layer build', 'build influxd CPU', 'run (layer)', 'runs', 'heap bound', 'peak RSS', 'default heap: run, peak RSS', 'CPU', 'influxd CPU', 'queries', 'triggers', 'baseline run (raw)', 'baseline influxd CPU', 'same triggers'],
      ...runs.map((r) => [fmt.int(Number(r.devices)), r.layerWritten === 'directly' ? `layer written directly (${fmt.int(Number(r.points))} points)` : `${fmt.int(Number(r.points))} points`, r.buildS !== undefined ? `${r.buildS} s` : '-', r.buildInfluxCpuS !== undefined ? `${r.buildInfluxCpuS} s` : '-', `${r.runS} s`, String(r.runsS), `${r.heapMiB} MiB`, `${r.peakRssMiB} MiB`, `${r.defaultHeapRunS} s, ${r.defaultHeapPeakRssMiB} MiB`, `${r.cpuS} s`, `${r.influxCpuS} s`, r.queries, r.fired, r.rawRunS !== undefined ? `${r.rawRunS} s` : '-', r.rawInfluxCpuS !== undefined ? `${r.rawInfluxCpuS} s` : '-', r.sameTriggers === undefined ? '-' : r.sameTriggers ? 'yes' : 'NO'] as Array<string | number>),
    ])}\n`);
    if (growth) process.stdout.write(`\n${growth.devices}× the devices: ${growth.time.toFixed(2)}× the time, ${growth.memory.toFixed(2)}× the peak memory\n`);
    process.stdout.write(`\n${targetsTable(targets)}\n\nresults: ${path}\n`);
    return { ok: targets.every((t) => t.met !== false) };
  } finally {
    await influx.stop();
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The heap bound of docs/operations.md for a fleet: 160 MiB + 1.6 KiB per device. */
const heapBoundMiB = (devices: number) => Math.ceil(160 + (devices * 1.6) / 1024);

/** The longest window of the shipped rules, in days: what a run reads before its time. */
function maxWindowDays(): number {
  return Math.max(...loadRules(DEFAULT_RULES_PATH).map((r) => r.windowDays));
}

interface RunStat { runS: number; wallS: number; peakRssMiB: number; cpuS: number; influxCpuS: number; queries: number; candidates: number; fired: number }

/** One `analytics run` over the layer or raw readings, with a fresh state (cooldowns of an earlier run would hold triggers back). */
async function timedRun(n: number, features: 'layer' | 'raw', dataDir: string, influxUrl: string, database: string, asOfMs: number, influxWatch: ProcWatch, concurrency?: number, heapMiB?: number): Promise<RunStat> {
  const state = await tempDir('ug-bench-an-state-');
  try {
    influxWatch.mark();
    const run = await child(['analytics', 'run', '--json', '--deliver-ms', '0', '--as-of', new Date(asOfMs).toISOString()], {
      UG_DATA_DIR: dataDir, UG_ANALYTICS_STATE_DIR: state.dir, UG_INFLUX_URL: influxUrl, UG_INFLUX_DATABASE: database, UG_ANALYTICS_FEATURES: features,
      ...(concurrency ? { UG_ANALYTICS_CONCURRENCY: String(concurrency) } : {}),
      ...(heapMiB ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${heapMiB}`.trim() } : {}),
    });
    const s = run.summary as unknown as RunSummaryJson;
    return { runS: round1(s.durationMs / 1000), wallS: round1(run.wallS), peakRssMiB: Math.round(run.peakRss / MiB), cpuS: round1(run.cpuS), influxCpuS: round1(influxWatch.read().cpuS), queries: s.queries, candidates: s.candidates, fired: s.fired };
  } finally {
    void n;
    await state.remove();
  }
}

/**
 * Writes the feature layer of `fleet` into `database` directly: each device gets the rows of a
 * device of the same model in the source fleet (round robin), read and written a page at a time,
 * and the source's list of built days.
 */
async function copyLayer(url: string, source: { fleet: ReturnType<typeof benchFleet>; database: string }, database: string, fleet: ReturnType<typeof benchFleet>, onProgress: (done: number, rows: number) => void): Promise<number> {
  const from = storeFor(url, source.database);
  const to = storeFor(url, database);
  const byModel = new Map<string, string[]>();
  for (const d of source.fleet.devices) byModel.set(d.model, [...(byModel.get(d.model) ?? []), d.id]);
  // source device → the devices that get its rows
  const targets = new Map<string, Array<{ id: string; kind: string }>>();
  const next = new Map<string, number>();
  for (const d of fleet.devices) {
    const list = byModel.get(d.model);
    if (!list) throw new Error(`the source fleet has no ${d.model}`);
    const i = next.get(d.model) ?? 0;
    next.set(d.model, i + 1);
    const src = list[i % list.length];
    targets.set(src, [...(targets.get(src) ?? []), { id: d.id, kind: d.kind }]);
  }
  const ids = [...targets.keys()];
  let rows = 0;
  let done = 0;
  let last = 0;
  for (let i = 0; i < ids.length; i += 200) {
    const page = ids.slice(i, i + 200);
    const series = await from.series(`SELECT * FROM "${FEATURE_LAYER.daily}" WHERE "device_id" =~ /^(?:${page.join('|').replace(/\./g, '\\.')})$/ GROUP BY "device_id", "kind"`);
    const lines: string[] = [];
    for (const s of series) {
      const cols = s.columns;
      for (const t of targets.get(s.tags!.device_id) ?? []) {
        for (const v of s.values) {
          const fields: string[] = [];
          cols.forEach((c, k) => {
            if (k === 0 || v[k] === null || v[k] === undefined) return;
            const val = v[k];
            fields.push(`${escTag(c)}=${typeof val === 'string' ? escString(val) : val}`);
          });
          lines.push(`${FEATURE_LAYER.daily},device_id=${escTag(t.id)},kind=${escTag(t.kind)} ${fields.join(',')} ${timeNs(Number(v[0]), 0)}`);
        }
      }
    }
    done += page.reduce((k, id) => k + (targets.get(id)?.length ?? 0), 0);
    for (let k = 0; k < lines.length; k += 5_000) {
      const res = await to.write(lines.slice(k, k + 5_000).join('\n'));
      if (!res.ok) throw new Error(`InfluxDB refused the copied layer: ${res.error}`);
    }
    rows += lines.length;
    if (performance.now() - last > 3_000) {
      last = performance.now();
      onProgress(done, rows);
    }
  }
  const days = await from.series(`SELECT "keys", "devices", "builtAt" FROM "${FEATURE_LAYER.days}"`);
  const manifest = (days[0]?.values ?? []).map((v) => `${FEATURE_LAYER.days} keys=${escString(String(v[1]))},devices=${fleet.devices.length}i,builtAt=${Date.now()}i ${timeNs(Number(v[0]), 0)}`);
  const res = await to.write(manifest.join('\n'));
  if (!res.ok) throw new Error(`InfluxDB refused the copied layer's days: ${res.error}`);
  onProgress(done, rows);
  return rows;
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

/** `usage-gateway <args>` in a child process; its JSON summary, peak RSS (sampled from /proc) and CPU. */
function child(args: string[], env: Record<string, string>): Promise<{ wallS: number; peakRss: number; cpuS: number; summary: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, UG_ANALYTICS_DELIVERY_MQTT: 'false', UG_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let peak = 0;
    let cpuS = 0;
    const watch = new ProcWatch(proc.pid!, 'analytics');
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memory(proc.pid!).peak);
        cpuS = watch.read().cpuS;
      } catch { /* exiting */ }
    }, 100);
    watch.mark();
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    proc.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`usage-gateway ${args.slice(0, 3).join(' ')} exited with ${code}: ${err.slice(-2_000)}`));
      try {
        resolve({ wallS: (performance.now() - t0) / 1000, peakRss: peak, cpuS, summary: JSON.parse(out.slice(out.indexOf('{'))) });
      } catch (e) {
        reject(new Error(`usage-gateway ${args.slice(0, 3).join(' ')} printed no JSON summary: ${(e as Error).message}: ${out.slice(0, 500)}`));
      }
    });
  });
}
