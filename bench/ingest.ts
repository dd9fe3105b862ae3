import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeReadings } from '../protocol/readings.ts';
import { readingsToLines } from '../core/influx/index.ts';
import { benchGateway, bareAedes, benchInflux, storeFor, tempDir, type BenchGateway } from './lib/env.ts';
import { benchFleet, loadDevices, provision, type LoadDevice } from './lib/fleet.ts';
import { connectDevice, OpenLoop, type StepResult } from './lib/load.ts';
import { QueryableProbe } from './lib/probe.ts';
import { cpuSeconds, ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';
import { CountingSubscriber } from './lib/counter.ts';
import { PEER_BATCH, startPeer } from './lib/peer.ts';
import type { Percentiles } from './lib/stats.ts';

export interface IngestOptions {
  quick: boolean;
  devices: number;
  /** Seconds each +10 % step is held. */
  stepS: number;
  /** Seconds of each step of the warm-up ramp (×1.5 per step). */
  rampS: number;
  /** Seconds at half the knee, where the latency targets apply. */
  halfS: number;
  /** Seconds InfluxDB is paused (kill -STOP). */
  outageS: number;
  startRate: number;
  /** Only these configurations (names as in the results). */
  only?: string[];
  /** Write a CPU profile of each gateway (node --cpu-prof) to this folder. */
  cpuProf?: string;
}

interface StepFigures extends StepResult {
  received: number;
  written: number;
  backlog: number;
  sustained: boolean;
  why: string;
  gatewayCpuUsPerReading: number;
  gatewayCores: number;
  influxCpuUsPerReading: number;
  influxCores: number;
  generatorCores: number;
  gatewayRssMiB: number;
  queryable: Percentiles | null;
}

interface ConfigResult {
  name: string;
  qos: 0 | 1;
  batch: number;
  fsync?: boolean;
  target: 'gateway' | 'bare-aedes' | 'peer';
  knee: number;
  /** The step at the knee (the highest rate sustained). */
  kneeStep?: StepFigures;
  steps: StepFigures[];
  half?: StepFigures;
  sent: number;
  counted: number;
  lost: number;
  extra: number;
  gatewayPeakRssMiB: number;
  /** The peer: peak RSS of each of its processes. */
  peerPeakRssMiB?: { nodeRed: number; mosquitto: number };
}

const MEASUREMENTS = ['washer_cycle', 'fridge_state', 'car_trip'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Drops a configuration's database once it is counted, and waits until influxd is idle (under a
 * tenth of a core over 2 s, for at most 2 minutes): after millions of points it compacts them
 * for minutes, at up to a core, which on a small machine would be taken from the next
 * configuration.
 */
async function settleInflux(url: string, pid: number, database: string | undefined, log: (m: string) => void): Promise<void> {
  if (database) await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ q: `DROP DATABASE "${database}"` }) }).catch(() => {});
  const t0 = performance.now();
  for (;;) {
    const c0 = cpuSeconds(pid);
    await sleep(2_000);
    const cores = (cpuSeconds(pid) - c0) / 2;
    if (cores < 0.1 || performance.now() - t0 > 120_000) {
      log(`influxd at ${Math.round(cores * 100)} % of a core after ${Math.round((performance.now() - t0) / 1000)} s${cores < 0.1 ? '' : ' (waited no longer)'}`);
      return;
    }
  }
}

export async function runIngest(o: IngestOptions): Promise<{ ok: boolean }> {
  const log = progress('ingest');
  const want = (name: string) => !o.only || o.only.some((x) => name.startsWith(x));
  log(`machine: ${JSON.stringify(machine())}`);
  const influx = await benchInflux();
  const influxWatch = new ProcWatch(influx.pid, 'influxd');
  const seed = await tempDir('ug-bench-seed-');
  const results: Record<string, unknown> = { benchmark: 'ingest', at: new Date().toISOString(), machine: machine(), options: o };
  const configs: ConfigResult[] = [];
  try {
    const fleet = benchFleet(o.devices + 1, 'bench');
    log(`provisioning ${fleet.devices.length} devices…`);
    const secrets = await provision(seed.dir, fleet, log);
    const all = loadDevices(fleet, secrets);
    const probeDevice = all.find((d) => d.kind === 'washer')!;
    const devices = all.filter((d) => d !== probeDevice);
    const registryFile = join(seed.dir, 'registry.json');

    // (b) InfluxDB's own write ceiling.
    let ceiling: { pointsPerS: number; influxCpuUsPerPoint: number; influxCores: number } | undefined;
    if (want('influx-ceiling')) {
      ceiling = await influxCeiling(influx.url, devices, o.quick ? 6_000 : 20_000, influxWatch, log);
      results.influxCeiling = ceiling;
      await settleInflux(influx.url, influx.pid, 'bench_ceiling', log);
    }

    // (a) bare Aedes, QoS 0, one reading per message, to one counting subscriber.
    if (want('bare-aedes')) configs.push(await bareAedesConfig(o, devices, log));

    // (c) the peer: Mosquitto → Node-RED (batched writes) → InfluxDB, what a user would build instead.
    for (const c of [{ name: 'peer-qos0-x1', qos: 0 as const }, { name: 'peer-qos1-x1', qos: 1 as const }]) {
      if (!want(c.name)) continue;
      await settleInflux(influx.url, influx.pid, undefined, log);
      configs.push(await peerConfig(o, c, influx.url, devices, probeDevice, influxWatch, log));
      await settleInflux(influx.url, influx.pid, `bench_${c.name.replace(/-/g, '_')}`, log);
    }

    const gatewayConfigs: Array<{ name: string; qos: 0 | 1; batch: number; fsync: boolean; workers?: number }> = [
      { name: 'gateway-qos0-x1', qos: 0, batch: 1, fsync: true },
      { name: 'gateway-qos0-x50', qos: 0, batch: 50, fsync: true },
      { name: 'gateway-qos1-x1', qos: 1, batch: 1, fsync: true },
      { name: 'gateway-qos1-x50', qos: 1, batch: 50, fsync: true },
      { name: 'gateway-qos1-x1-nofsync', qos: 1, batch: 1, fsync: false },
      // gateway.workers: 2, with a private Redis; CPU and RSS are the primary's and the workers' together (Redis apart).
      { name: 'gateway-w2-qos0-x1', qos: 0, batch: 1, fsync: true, workers: 2 },
      { name: 'gateway-w2-qos1-x1', qos: 1, batch: 1, fsync: true, workers: 2 },
    ];
    for (const c of gatewayConfigs) {
      if (!want(c.name)) continue;
      const dir = await tempDir('ug-bench-gw-');
      await copyFile(registryFile, join(dir.dir, 'registry.json'));
      try {
        configs.push(await gatewayConfig(o, c, dir.dir, influx.url, devices, probeDevice, influxWatch, log));
      } finally {
        await dir.remove();
      }
      await settleInflux(influx.url, influx.pid, `bench_${c.name.replace(/-/g, '_')}`, log);
    }

    let outage: Record<string, unknown> | undefined;
    const q1 = configs.find((c) => c.name === 'gateway-qos1-x1');
    if (want('outage')) {
      const dir = await tempDir('ug-bench-gw-');
      await copyFile(registryFile, join(dir.dir, 'registry.json'));
      try {
        outage = await outageRun(o, (q1?.knee || o.startRate * 2) / 2, dir.dir, influx, devices, log);
      } finally {
        await dir.remove();
      }
      results.outage = outage;
    }
    results.configs = configs;

    // Summary.
    const by = (n: string) => configs.find((c) => c.name === n);
    const rows: Array<Array<string | number>> = [['configuration', 'knee readings/s', 'gw µs/reading knee / half', 'gw peak RSS (largest process)', 'influx µs/pt', 'gen cores', 'PUBACK p50/p99/p99.9 ms', 'queryable p50/p99 ms', 'sent', 'lost', 'extra']];
    for (const c of configs) {
      const h = c.half;
      rows.push([
        c.name, fmt.int(c.knee), `${fmt.f1(c.kneeStep?.gatewayCpuUsPerReading)} / ${fmt.f1(h?.gatewayCpuUsPerReading)}`,
        c.peerPeakRssMiB ? `${c.peerPeakRssMiB.nodeRed} MiB node-red, ${c.peerPeakRssMiB.mosquitto} MiB mosquitto` : c.target === 'gateway' ? `${c.gatewayPeakRssMiB} MiB` : `${c.gatewayPeakRssMiB} MiB (broker)`,
        fmt.f1(h?.influxCpuUsPerReading), fmt.f1(h?.generatorCores),
        h?.puback ? `${h.puback.p50} / ${h.puback.p99} / ${h.puback.p999}` : '-',
        h?.queryable ? `${h.queryable.p50} / ${h.queryable.p99}` : '-',
        fmt.int(c.sent), fmt.int(c.lost), fmt.int(c.extra),
      ]);
    }
    if (ceiling) rows.push(['influx-ceiling (5,000-line POSTs)', fmt.int(ceiling.pointsPerS), '-', '-', fmt.f1(ceiling.influxCpuUsPerPoint), '-', '-', '-', '-', '-', '-']);
    const q0 = by('gateway-qos0-x1');
    const q0b = by('gateway-qos0-x50');
    const q1b = by('gateway-qos1-x50');
    const bare = by('bare-aedes-qos0-x1');
    const nofsync = by('gateway-qos1-x1-nofsync');
    const peer0 = by('peer-qos0-x1');
    const peer1 = by('peer-qos1-x1');
    const w2q0 = by('gateway-w2-qos0-x1');
    const w2q1 = by('gateway-w2-qos1-x1');
    const overPeer = (ours: ConfigResult | undefined, peer: ConfigResult | undefined) => (ours && peer && peer.knee > 0 ? ours.knee / peer.knee : null);
    const ratios = {
      oursOverBareAedes: q0 && bare ? q0.knee / bare.knee : null,
      oursBatchOverInfluxCeiling: q0b && ceiling ? q0b.knee / ceiling.pointsPerS : null,
      oursBatchQos1OverInfluxCeiling: q1b && ceiling ? q1b.knee / ceiling.pointsPerS : null,
      oursQos0OverPeer: overPeer(q0, peer0),
      oursQos1OverPeer: overPeer(q1, peer1),
      oursW2Qos0OverPeer: overPeer(w2q0, peer0),
      oursW2Qos1OverPeer: overPeer(w2q1, peer1),
    };
    results.ratios = ratios;
    const t = (what: string, target: string, measured: number | null | undefined, ok: (v: number) => boolean, show: (v: number) => string): Target =>
      ({ what, target, measured: measured === null || measured === undefined ? '-' : show(measured), met: measured === null || measured === undefined ? null : ok(measured) });
    const vsPeer = (what: string, target: string, min: number, ours: ConfigResult | undefined, ratio: number | null): Target =>
      ({ what, target: `${target}, nothing lost`, measured: ratio === null ? '-' : `${fmt.ratio(ratio)} (${fmt.int(ours!.knee)}/s; lost ${fmt.int(ours!.lost)})`, met: ratio === null ? null : ratio >= min && ours!.lost === 0 });
    const targets: Target[] = [
      t('gateway CPU at the knee, one reading per message', '≤ 15 µs/reading', q0?.kneeStep?.gatewayCpuUsPerReading, (v) => v <= 15, (v) => `${v.toFixed(1)} µs`),
      t('gateway CPU at the knee, batches of 50', '≤ 5 µs/reading', q0b?.kneeStep?.gatewayCpuUsPerReading, (v) => v <= 5, (v) => `${v.toFixed(1)} µs`),
      t('bare Aedes CPU at its knee (for comparison)', 'µs/message', bare?.kneeStep?.gatewayCpuUsPerReading, () => true, (v) => `${v.toFixed(1)} µs`),
      t('QoS 0, one per message', '≥ 30,000 readings/s', q0?.knee, (v) => v >= 30_000, fmt.int),
      t('QoS 0, one per message / bare Aedes', '≥ 0.6×', ratios.oursOverBareAedes, (v) => v >= 0.6, fmt.ratio),
      t('batches of 50 (QoS 0) / InfluxDB ceiling', '≥ 0.5×', ratios.oursBatchOverInfluxCeiling, (v) => v >= 0.5, fmt.ratio),
      t('batches of 50 (QoS 1) / InfluxDB ceiling', '≥ 0.5×', ratios.oursBatchQos1OverInfluxCeiling, (v) => v >= 0.5, fmt.ratio),
      t('QoS 1 spooled, one per message', '≥ 20,000 readings/s', q1?.knee, (v) => v >= 20_000, fmt.int),
      t('QoS 1 PUBACK p99 at half the max rate', '≤ 20 ms', q1?.half?.puback?.p99, (v) => v <= 20, (v) => `${v} ms`),
      t('QoS 1 without fsync (for comparison)', 'readings/s', nofsync?.knee, () => true, fmt.int),
      t('publish → queryable p99 at half (QoS 0)', '≤ 2,000 ms', q0?.half?.queryable?.p99, (v) => v <= 2_000, (v) => `${v} ms`),
      t('publish → queryable p99 at half (QoS 1)', '≤ 2,000 ms', q1?.half?.queryable?.p99, (v) => v <= 2_000, (v) => `${v} ms`),
      // Stored readings per second against the peer (Mosquitto → Node-RED → InfluxDB) on the same load, the gateway losing nothing.
      vsPeer('QoS 0 one per message, gateway.workers: 2 / peer', '≥ 2×', 2, w2q0, ratios.oursW2Qos0OverPeer),
      vsPeer('QoS 1 one per message, gateway.workers: 2 / peer', '≥ 2×', 2, w2q1, ratios.oursW2Qos1OverPeer),
      vsPeer('QoS 0 one per message, one worker / peer', '≥ 1.3×', 1.3, q0, ratios.oursQos0OverPeer),
      vsPeer('QoS 1 one per message, one worker / peer', '≥ 1.3×', 1.3, q1, ratios.oursQos1OverPeer),
      t('peer QoS 0: readings lost (for comparison)', 'readings', peer0?.lost, () => true, fmt.int),
      t('peer QoS 1: readings lost (for comparison; acknowledged on receipt)', 'readings', peer1?.lost, () => true, fmt.int),
      t('InfluxDB paused: readings lost', '0', outage ? Number(outage.lost) : null, (v) => v === 0, fmt.int),
      t('InfluxDB paused: backlog drained after SIGCONT', '≤ 60 s', outage ? (outage.drainS as number | null) ?? Infinity : null, (v) => v <= 60, (v) => (Number.isFinite(v) ? `${v.toFixed(1)} s` : 'not drained')),
    ];
    results.targets = targets;
    const path = await saveResults('ingest', results);
    process.stdout.write(`\nIngest, ${o.devices} devices, steps of +10 % held ${o.stepS} s${o.quick ? ' (--quick)' : ''}; latencies at half the knee (${o.halfS} s)\n`);
    process.stdout.write(`${table(rows)}\n\n${targetsTable(targets)}\n\nresults: ${path}\n`);
    return { ok: targets.every((x) => x.met !== false) };
  } finally {
    await influx.stop();
    await seed.remove();
  }
}

/** Counts the benchmark's points in a database (all reading measurements). */
export async function countPoints(url: string, database: string): Promise<number> {
  const store = storeFor(url, database);
  let n = 0;
  for (const m of MEASUREMENTS) {
    const rows = await store.query<{ count: number }>(`SELECT count("seq") FROM "${m}"`);
    n += Number(rows[0]?.count ?? 0);
  }
  return n;
}

/** Waits until the gateway has written everything it received (or `timeoutMs`). */
export async function drained(gw: BenchGateway, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const s = await gw.status();
    const backlog = s.readings.received - s.readings.written;
    if (backlog <= 0 && s.spool.depthRecords === 0) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > timeoutMs) return Infinity;
    await sleep(200);
  }
}

async function gatewayConfig(
  o: IngestOptions, c: { name: string; qos: 0 | 1; batch: number; fsync: boolean; workers?: number }, dataDir: string, influxUrl: string,
  devices: LoadDevice[], probeDevice: LoadDevice, influxWatch: ProcWatch, log: (m: string) => void,
): Promise<ConfigResult> {
  const database = `bench_${c.name.replace(/-/g, '_')}`;
  log(`${c.name}: starting the gateway (spool fsync ${c.fsync ? 'on' : 'off'})`);
  const gw = await benchGateway({
    dataDir, influxUrl, database, env: { UG_SPOOL_FSYNC: String(c.fsync) }, workers: c.workers,
    nodeArgs: o.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${join(o.cpuProf, c.name)}`] : undefined,
  });
  const gwWatch = new ProcWatch(gw.pid, 'gateway');
  const load = new OpenLoop({ url: gw.url, devices, qos: c.qos, batch: c.batch, log: (m) => log(`${c.name}: ${m}`) });
  await load.connect();
  const probeClient = await connectDevice(gw.url, probeDevice);
  const probe = new QueryableProbe(probeClient, probeDevice, storeFor(influxUrl, database), c.qos);
  probe.start();
  const steps: StepFigures[] = [];
  let sent = 0;
  const step = async (rate: number, seconds: number, label: string): Promise<StepFigures> => {
    const s0 = await gw.status();
    gwWatch.mark();
    influxWatch.mark();
    const gen0 = process.cpuUsage();
    probe.take();
    const r = await load.step(rate, seconds * 1000);
    const gw1 = gwWatch.read();
    const in1 = influxWatch.read();
    const gen = process.cpuUsage(gen0);
    const s1 = await gw.status();
    sent += r.sentReadings;
    const received = s1.readings.received - s0.readings.received;
    const written = s1.readings.written - s0.readings.written;
    const backlog = s1.readings.received - s1.readings.written;
    const queryable = probe.take();
    const f = stepFigures({ r, rate, taker: 'gateway', received, written, backlog, target: gw1, influx: in1, gen, queryable });
    log(`${c.name} ${label} ${fmt.int(rate)}/s: took ${fmt.int(received / r.durationS)}/s, written ${fmt.int(written / r.durationS)}/s, gw ${f.gatewayCpuUsPerReading.toFixed(1)} µs/reading (${(gw1.cores * 100).toFixed(0)} % core), influx ${(in1.cores * 100).toFixed(0)} %, gen ${(f.generatorCores * 100).toFixed(0)} %, rss ${f.gatewayRssMiB} MiB${r.puback ? `, PUBACK p99 ${r.puback.p99} ms` : ''}${queryable ? `, queryable p99 ${queryable.p99} ms` : ''} → ${f.sustained ? 'sustained' : `not sustained (${f.why})`}`);
    for (const w of gw.warnings()) log(`${c.name}: gateway logged ${w}`);
    // Start the next step from a drained gateway.
    await drained(gw, 60_000);
    return f;
  };
  try {
    const { knee, kneeStep, half } = await findKnee(step, steps, o);
    await probe.stop();
    await load.close();
    await probeClient.endAsync(true);
    await drained(gw, 120_000);
    const counted = await countPoints(influxUrl, database);
    const total = sent + probe.sent;
    gwWatch.sample();
    const result: ConfigResult = {
      name: c.name, qos: c.qos, batch: c.batch, fsync: c.fsync, target: 'gateway', knee, kneeStep, steps, half,
      sent: total, counted, lost: Math.max(0, total - counted), extra: Math.max(0, counted - total), gatewayPeakRssMiB: Math.round(gwWatch.peakRss / 2 ** 20),
    };
    log(`${c.name}: knee ${fmt.int(knee)} readings/s; ${fmt.int(total)} sent, ${fmt.int(counted)} in InfluxDB`);
    return result;
  } finally {
    await load.close();
    await gw.stop();
  }
}

/** Baseline (a): the same load through a bare Aedes to one counting subscriber. */
async function bareAedesConfig(o: IngestOptions, devices: LoadDevice[], log: (m: string) => void): Promise<ConfigResult> {
  const name = 'bare-aedes-qos0-x1';
  let broker!: Awaited<ReturnType<typeof bareAedes>>;
  let watch!: ProcWatch;
  let sub!: CountingSubscriber;
  let load!: OpenLoop;
  let lost = 0;
  const open = async () => {
    broker = await bareAedes();
    watch = new ProcWatch(broker.pid, 'aedes');
    sub = new CountingSubscriber();
    await sub.connect(broker.url, 'devices/+/telemetry');
    load = new OpenLoop({ url: broker.url, devices, qos: 0, batch: 1, auth: false, log: (m) => log(`${name}: ${m}`) });
    await load.connect();
  };
  const close = async () => {
    await load.close();
    sub.close();
    await broker.stop();
  };
  await open();
  const steps: StepFigures[] = [];
  let sent = 0;
  const step = async (rate: number, seconds: number, label: string): Promise<StepFigures> => {
    const d0 = sub.delivered;
    watch.mark();
    const gen0 = process.cpuUsage();
    sub.take();
    const r = await load.step(rate, seconds * 1000);
    const w = watch.read();
    // What is still in flight arrives within a moment when the broker keeps up.
    const settle = performance.now() + 5_000;
    while (sub.delivered - d0 < r.sentReadings && performance.now() < settle) await sleep(20);
    const gen = process.cpuUsage(gen0);
    sent += r.sentReadings;
    const got = sub.delivered - d0;
    const lat = sub.take();
    const why: string[] = [];
    if (got < 0.97 * r.sentReadings) why.push(`subscriber got ${Math.round((100 * got) / r.sentReadings)} % within 5 s`);
    if (r.maxLagMs > 1_000) why.push(`generator ${r.maxLagMs} ms behind`);
    if (lat && lat.p99 > 1_000) why.push(`delivery p99 ${lat.p99} ms`);
    // Past its limit Aedes queues for the subscriber and may not recover: the next step gets a
    // fresh broker rather than the backlog of this one.
    if (got < r.sentReadings) {
      lost += r.sentReadings - got;
      log(`${name}: ${fmt.int(r.sentReadings - got)} messages not delivered; restarting the broker for the next step`);
      await close();
      await open();
    }
    const f: StepFigures = {
      ...r, received: got, written: got, backlog: r.sentReadings - got, sustained: why.length === 0, why: why.join('; '),
      gatewayCpuUsPerReading: (w.cpuS * 1e6) / Math.max(1, got), gatewayCores: w.cores, influxCpuUsPerReading: NaN, influxCores: 0,
      generatorCores: (gen.user + gen.system) / 1e6 / r.durationS, gatewayRssMiB: Math.round(w.rss / 2 ** 20), queryable: lat,
    };
    log(`${name} ${label} ${fmt.int(rate)}/s: delivered ${fmt.int(got / r.durationS)}/s, broker ${f.gatewayCpuUsPerReading.toFixed(1)} µs/msg (${(w.cores * 100).toFixed(0)} % core), generator+subscriber ${(f.generatorCores * 100).toFixed(0)} %, delivery p99 ${lat?.p99 ?? '-'} ms → ${f.sustained ? 'sustained' : `not sustained (${f.why})`}`);
    return f;
  };
  try {
    const { knee, kneeStep, half } = await findKnee(step, steps, o);
    watch.sample();
    return { name, qos: 0, batch: 1, target: 'bare-aedes', knee, kneeStep, steps, half, sent, counted: sent - lost, lost, extra: 0, gatewayPeakRssMiB: Math.round(watch.peakRss / 2 ** 20) };
  } finally {
    await close();
  }
}

/** Counts the benchmark's points whose time is at or after `sinceMs` (a step's readings: their ts is their scheduled time). */
async function countSince(store: ReturnType<typeof storeFor>, sinceMs: number): Promise<number> {
  let n = 0;
  for (const m of MEASUREMENTS) {
    const rows = await store.query<{ count: number }>(`SELECT count("seq") FROM "${m}" WHERE time >= ${sinceMs}ms`);
    n += Number(rows[0]?.count ?? 0);
  }
  return n;
}

/** Polls `count` until it reaches `expected` or has not grown for `quietMs` (or `timeoutMs`); the last count. */
async function settled(count: () => Promise<number>, expected: number, quietMs: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  let last = await count();
  let since = performance.now();
  while (last < expected && performance.now() - since < quietMs && performance.now() - t0 < timeoutMs) {
    await sleep(250);
    const n = await count();
    if (n !== last) since = performance.now();
    last = n;
  }
  return last;
}

/**
 * Baseline (c), the peer: the same load, without credentials, through Mosquitto and Node-RED
 * into InfluxDB (bench/lib/peer.ts), with the same steps and criteria as the gateway: what the
 * pipeline took in is the count of readings its function node turned into points (Node-RED
 * reads from Mosquitto greedily and queues in memory), what it wrote is counted in InfluxDB by
 * the readings' time (their ts is their scheduled send time, within the step). At QoS 1
 * Mosquitto acknowledges a message on receipt and Node-RED acknowledges its copy on receipt:
 * an acknowledged reading may still be lost, which is the peer's guarantee, not the gateway's.
 */
async function peerConfig(
  o: IngestOptions, c: { name: string; qos: 0 | 1 }, influxUrl: string, devices: LoadDevice[], probeDevice: LoadDevice,
  influxWatch: ProcWatch, log: (m: string) => void,
): Promise<ConfigResult> {
  const database = `bench_${c.name.replace(/-/g, '_')}`;
  const store = storeFor(influxUrl, database);
  const work = await tempDir('ug-bench-peer-');
  const models = Object.fromEntries([...devices, probeDevice].map((d) => [d.id, d.model]));
  log(`${c.name}: starting Mosquitto and Node-RED (batches of ${PEER_BATCH.count} or ${PEER_BATCH.timeoutS * 1000} ms)`);
  const peer = await startPeer({ influxUrl, database, workDir: work.dir, log: (m) => log(`${c.name}: ${m}`), qos: c.qos, models }).catch(async (err: unknown) => {
    await work.remove();
    throw err;
  });
  const watch = new ProcWatch([peer.pids.mosquitto, peer.pids.nodeRed], 'peer');
  const nodeRedWatch = new ProcWatch(peer.pids.nodeRed, 'node-red');
  const mosquittoWatch = new ProcWatch(peer.pids.mosquitto, 'mosquitto');
  let load: OpenLoop | undefined;
  let probeClient: Awaited<ReturnType<typeof connectDevice>> | undefined;
  try {
    load = new OpenLoop({ url: peer.url, devices, qos: c.qos, batch: 1, auth: false, log: (m) => log(`${c.name}: ${m}`) });
    await load.connect();
    probeClient = await connectDevice(peer.url, probeDevice, false);
    const probe = new QueryableProbe(probeClient, probeDevice, store, c.qos);
    probe.start();
    const steps: StepFigures[] = [];
    let sent = 0;
    const step = async (rate: number, seconds: number, label: string): Promise<StepFigures> => {
      const since = Date.now() - 1;
      const p0 = await peer.processed();
      for (const w of [watch, nodeRedWatch, mosquittoWatch, influxWatch]) w.mark();
      const gen0 = process.cpuUsage();
      probe.take();
      const r = await load!.step(rate, seconds * 1000);
      const w = watch.read();
      const nr = nodeRedWatch.read();
      const mq = mosquittoWatch.read();
      const in1 = influxWatch.read();
      const gen = process.cpuUsage(gen0);
      const received = (await peer.processed()) - p0;
      const written = await countSince(store, since);
      sent += r.sentReadings;
      const backlog = Math.max(0, received - written);
      const queryable = probe.take();
      const f = stepFigures({ r, rate, taker: 'the flow', received, written, backlog, target: w, influx: in1, gen, queryable });
      log(`${c.name} ${label} ${fmt.int(rate)}/s: took ${fmt.int(received / r.durationS)}/s, written ${fmt.int(written / r.durationS)}/s, peer ${f.gatewayCpuUsPerReading.toFixed(1)} µs/reading (node-red ${(nr.cores * 100).toFixed(0)} % core, mosquitto ${(mq.cores * 100).toFixed(0)} %), influx ${(in1.cores * 100).toFixed(0)} %, gen ${(f.generatorCores * 100).toFixed(0)} %, rss ${Math.round(nr.rss / 2 ** 20)} + ${Math.round(mq.rss / 2 ** 20)} MiB${r.puback ? `, PUBACK p99 ${r.puback.p99} ms` : ''}${queryable ? `, queryable p99 ${queryable.p99} ms` : ''} → ${f.sustained ? 'sustained' : `not sustained (${f.why})`}`);
      for (const x of peer.warnings()) log(`${c.name}: ${x}`);
      // Start the next step from a drained pipeline: Node-RED's queue worked off, its last batches written.
      const took = await settled(async () => (await peer.processed()) - p0, r.sentReadings, 2_000, 120_000);
      await settled(() => countSince(store, since), took, 2_000, 60_000);
      return f;
    };
    const { knee, kneeStep, half } = await findKnee(step, steps, o);
    await probe.stop();
    await load.close();
    // Ended once: mqtt.js does not call back a second end() of a closed client.
    await probeClient.endAsync(true);
    probeClient = undefined;
    const total = sent + probe.sent;
    // Drained: the count stops growing (Node-RED writes what it holds within its batch timeout).
    const counted = await settled(() => countPoints(influxUrl, database), total, 5_000, 120_000);
    for (const x of peer.warnings()) log(`${c.name}: ${x}`);
    watch.sample();
    const mib = (pid: number) => Math.round((watch.peakRssByPid.get(pid) ?? 0) / 2 ** 20);
    const result: ConfigResult = {
      name: c.name, qos: c.qos, batch: 1, target: 'peer', knee, kneeStep, steps, half,
      sent: total, counted, lost: Math.max(0, total - counted), extra: Math.max(0, counted - total), gatewayPeakRssMiB: Math.round(watch.peakRss / 2 ** 20),
      peerPeakRssMiB: { nodeRed: mib(peer.pids.nodeRed), mosquitto: mib(peer.pids.mosquitto) },
    };
    log(`${c.name}: knee ${fmt.int(knee)} readings/s; ${fmt.int(total)} sent, ${fmt.int(counted)} in InfluxDB`);
    return result;
  } finally {
    await load?.close();
    await probeClient?.endAsync(true).catch(() => {});
    await peer.stop();
    await work.remove();
  }
}

/** A step's figures and whether it was sustained: what was taken and written, backlog, lag, PUBACKs. */
function stepFigures(o: {
  r: StepResult; rate: number; taker: string; received: number; written: number; backlog: number;
  target: { cpuS: number; cores: number; rss: number }; influx: { cpuS: number; cores: number }; gen: NodeJS.CpuUsage; queryable: Percentiles | null;
}): StepFigures {
  const { r, rate, received, written, backlog } = o;
  const why: string[] = [];
  if (received < 0.97 * r.sentReadings) why.push(`${o.taker} took ${Math.round((100 * received) / r.sentReadings)} % of what was sent`);
  if (backlog > Math.max(rate * 2, 10_000)) why.push(`${backlog} readings not yet in InfluxDB`);
  if (r.maxLagMs > 1_000) why.push(`generator ${r.maxLagMs} ms behind`);
  if (r.unacked > 0) why.push(`${r.unacked} readings without PUBACK`);
  if (r.puback && r.puback.p99 > 1_000) why.push(`PUBACK p99 ${r.puback.p99} ms`);
  return {
    ...r, received, written, backlog, sustained: why.length === 0, why: why.join('; '),
    gatewayCpuUsPerReading: (o.target.cpuS * 1e6) / Math.max(1, received), gatewayCores: o.target.cores,
    influxCpuUsPerReading: (o.influx.cpuS * 1e6) / Math.max(1, written), influxCores: o.influx.cores,
    generatorCores: (o.gen.user + o.gen.system) / 1e6 / r.durationS, gatewayRssMiB: Math.round(o.target.rss / 2 ** 20), queryable: o.queryable,
  };
}

type StepFn = (rate: number, seconds: number, label: string) => Promise<StepFigures>;

/**
 * The knee search shared by the gateway and the bare-Aedes baseline: a warm-up ramp (×1.5 per
 * step), then steps of +10 % from the last rate it sustained; the knee is the highest rate
 * sustained for a whole step; then one step at half the knee, where latencies are read.
 */
async function findKnee(step: StepFn, steps: StepFigures[], o: { startRate: number; rampS: number; stepS: number; halfS: number }) {
  let rate = o.startRate;
  let lastOk = 0;
  for (let i = 0; i < 12; i++) {
    const f = await step(rate, o.rampS, 'ramp');
    if (!f.sustained) break;
    lastOk = rate;
    rate = Math.round(rate * 1.5);
  }
  rate = lastOk || Math.round(o.startRate / 2);
  let knee = 0;
  let kneeStep: StepFigures | undefined;
  for (let i = 0; i < 10; i++) {
    const f = await step(rate, o.stepS, 'step');
    steps.push(f);
    if (f.sustained) {
      knee = rate;
      kneeStep = f;
      rate = Math.round(rate * 1.1);
    } else if (knee === 0 && i < 4) {
      rate = Math.round(rate / 1.1); // the warm-up's last rate did not hold for a whole step: go down
    } else break;
  }
  const half = knee > 0 ? await step(Math.round(knee / 2), o.halfS, 'half') : undefined;
  return { knee, kneeStep, half };
}

/**
 * Baseline (b): InfluxDB's own write ceiling. Line protocol made by the gateway's own
 * formatter from the same readings, POSTed in batches of 5,000 by two writers at once (one
 * per core), each batch shifted in time so that every point is new.
 */
async function influxCeiling(url: string, devices: LoadDevice[], ms: number, watch: ProcWatch, log: (m: string) => void) {
  const database = 'bench_ceiling';
  await storeFor(url, database).ensureDatabase();
  const base = Date.now() - 3_600_000;
  const lines: Array<{ head: string; ms: number; sub: string }> = [];
  for (const d of devices.slice(0, 100)) {
    const payload = `[${Array.from({ length: 50 }, (_, i) => `{"ts":${base + i},"seq":${i + 1},${d.bodies[i % d.bodies.length]}}`).join(',')}]`;
    const res = decodeReadings(Buffer.from(payload), { kind: d.kind, channel: 'telemetry', receivedAtMs: Date.now(), maxAgeMs: 400 * 86_400_000, maxFutureSkewMs: 300_000 });
    for (const l of readingsToLines(res.readings, { deviceId: d.id, kind: d.kind, model: d.model }).split('\n')) {
      const sp = l.lastIndexOf(' ');
      const ns = l.slice(sp + 1);
      lines.push({ head: l.slice(0, sp), ms: Number(ns.slice(0, -6)), sub: ns.slice(-6) });
    }
  }
  const writeUrl = `${url}/write?db=${database}&precision=ns`;
  let round = 0;
  let points = 0;
  const body = () => {
    const shift = 60 * round++;
    return lines.map((l) => `${l.head} ${l.ms - shift}${l.sub}`).join('\n');
  };
  log(`influx ceiling: ${lines.length}-line POSTs, 2 writers, ${ms / 1000} s`);
  watch.mark();
  const t0 = performance.now();
  const writer = async () => {
    while (performance.now() - t0 < ms) {
      const res = await fetch(writeUrl, { method: 'POST', body: body() });
      await res.arrayBuffer();
      if (res.status !== 204) throw new Error(`InfluxDB refused a write: HTTP ${res.status}`);
      points += lines.length;
    }
  };
  await Promise.all([writer(), writer()]);
  const s = (performance.now() - t0) / 1000;
  const w = watch.read();
  const r = { pointsPerS: points / s, influxCpuUsPerPoint: (w.cpuS * 1e6) / points, influxCores: w.cores, points };
  log(`influx ceiling: ${fmt.int(r.pointsPerS)} points/s, influxd ${r.influxCpuUsPerPoint.toFixed(2)} µs/point (${(w.cores * 100).toFixed(0)} % core)`);
  return r;
}

/** InfluxDB paused with SIGSTOP at half load: nothing may be lost; how long the backlog takes to drain. */
async function outageRun(
  o: IngestOptions, rate: number, dataDir: string, influx: Awaited<ReturnType<typeof benchInflux>>, devices: LoadDevice[], log: (m: string) => void,
): Promise<Record<string, unknown>> {
  const database = 'bench_outage';
  rate = Math.round(rate);
  const gw = await benchGateway({ dataDir, influxUrl: influx.url, database });
  const load = new OpenLoop({ url: gw.url, devices, qos: 1, batch: 1, log: (m) => log(`outage: ${m}`) });
  await load.connect();
  const warmS = o.quick ? 3 : 10;
  const afterS = o.quick ? 30 : 75;
  log(`outage: QoS 1 at ${fmt.int(rate)} readings/s; InfluxDB paused ${o.outageS} s after ${warmS} s`);
  const running = load.step(rate, (warmS + o.outageS + afterS) * 1000);
  let maxBacklog = 0;
  let drainS: number | null = null;
  let peakSpool = 0;
  try {
    await sleep(warmS * 1000);
    influx.process!.kill('SIGSTOP');
    const stoppedAt = performance.now();
    while (performance.now() - stoppedAt < o.outageS * 1000) {
      const s = await gw.status();
      maxBacklog = Math.max(maxBacklog, s.readings.received - s.readings.written);
      peakSpool = Math.max(peakSpool, s.spool.depthBytes);
      await sleep(1_000);
    }
    influx.process!.kill('SIGCONT');
    const resumedAt = performance.now();
    log(`outage: InfluxDB resumed; ${fmt.int(maxBacklog)} readings waiting in the spool`);
    while (performance.now() - resumedAt < afterS * 1000) {
      const s = await gw.status();
      const backlog = s.readings.received - s.readings.written;
      maxBacklog = Math.max(maxBacklog, backlog);
      if (backlog < Math.max(rate, 1_000)) {
        drainS = (performance.now() - resumedAt) / 1000;
        break;
      }
      await sleep(250);
    }
    log(`outage: ${drainS === null ? `backlog not drained within ${afterS} s` : `backlog drained ${drainS.toFixed(1)} s after SIGCONT`}`);
    const r = await running;
    await load.close();
    await drained(gw, 120_000);
    const counted = await countPoints(influx.url, database);
    const out = { rate, outageS: o.outageS, maxBacklog, peakSpoolMiB: Math.round(peakSpool / 2 ** 20), drainS, acked: r.ackedReadings, sent: r.sentReadings, unacked: r.unacked, counted, lost: Math.max(0, r.ackedReadings - counted), puback: r.puback };
    log(`outage: ${fmt.int(r.ackedReadings)} acknowledged, ${fmt.int(counted)} in InfluxDB, PUBACK p99 ${r.puback?.p99} ms`);
    return out;
  } finally {
    influx.process?.kill('SIGCONT');
    await load.close();
    await gw.stop();
  }
}
