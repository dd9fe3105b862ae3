import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchGateway, benchInflux, storeFor, tempDir } from './lib/env.ts';
import { benchFleet, loadDevices, provision, type LoadDevice } from './lib/fleet.ts';
import { connectDevice, OpenLoop } from './lib/load.ts';
import { QueryableProbe } from './lib/probe.ts';
import { ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';
import type { Percentiles } from './lib/stats.ts';
import { countPoints, drained } from './ingest.ts';

export interface BurstOptions {
  quick: boolean;
  devices: number;
  /** Readings each device sends, one per message. */
  perDevice: number;
  /** QoS 1: messages a device may have unacknowledged. */
  window: number;
  only?: string[];
}

interface BurstResult {
  name: string;
  qos: 0 | 1;
  workers: number;
  sent: number;
  /** Seconds the devices took to send everything (QoS 1: until the last PUBACK). */
  sendS: number;
  /** Seconds from the burst's start until the first of its readings could be queried, and all of them. */
  firstQueryableS: number | null;
  allStoredS: number | null;
  stored: number;
  /** Messages the gateway refused and counted (ug_messages_refused_total), e.g. a full spool at QoS 0. */
  refusedCounted: number;
  /** Sent, neither stored nor counted as refused. */
  silentlyLost: number;
  /** Publish → queryable of a probe device publishing every 100 ms during the burst. */
  queryable: Percentiles | null;
  puback: Percentiles | null;
  peakRssMiB: number;
  gatewayCpuS: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The burst: `devices` connected devices each send `perDevice` readings, one per message, as
 * fast as their connections take them (200,000 readings from 1,000 devices by default). What
 * it shows: memory under a burst (peak RSS of the largest gateway process), whether readings
 * become queryable while the burst is still arriving, and that nothing is lost without a count.
 */
export async function runBurst(o: BurstOptions): Promise<{ ok: boolean }> {
  const log = progress('burst');
  const want = (name: string) => !o.only || o.only.some((x) => name.startsWith(x));
  log(`machine: ${JSON.stringify(machine())}`);
  const influx = await benchInflux();
  const seed = await tempDir('ug-bench-seed-');
  const results: Record<string, unknown> = { benchmark: 'burst', at: new Date().toISOString(), machine: machine(), options: o };
  const runs: BurstResult[] = [];
  try {
    const fleet = benchFleet(o.devices + 1, 'burst');
    log(`provisioning ${fleet.devices.length} devices…`);
    const secrets = await provision(seed.dir, fleet, log);
    const all = loadDevices(fleet, secrets);
    const probeDevice = all.find((d) => d.kind === 'washer')!;
    const devices = all.filter((d) => d !== probeDevice);
    const configs: Array<{ name: string; qos: 0 | 1; workers: number }> = [
      { name: 'gateway-qos0', qos: 0, workers: 1 },
      { name: 'gateway-qos1', qos: 1, workers: 1 },
      { name: 'gateway-w2-qos0', qos: 0, workers: 2 },
      { name: 'gateway-w2-qos1', qos: 1, workers: 2 },
    ];
    for (const c of configs) {
      if (!want(c.name)) continue;
      const dir = await tempDir('ug-bench-gw-');
      await copyFile(join(seed.dir, 'registry.json'), join(dir.dir, 'registry.json'));
      try {
        runs.push(await gatewayBurst(o, c, dir.dir, influx.url, devices, probeDevice, log));
      } finally {
        await dir.remove();
      }
    }
    results.runs = runs;
    const rows: Array<Array<string | number>> = [['configuration', 'sent', 'send s', 'first queryable s', 'all stored s', 'stored', 'refused (counted)', 'lost silently', 'queryable p50/p99 ms', 'PUBACK p99 ms', 'peak RSS (largest process)', 'gw CPU s']];
    for (const r of runs) {
      rows.push([
        r.name, fmt.int(r.sent), fmt.f1(r.sendS), fmt.f1(r.firstQueryableS), fmt.f1(r.allStoredS), fmt.int(r.stored), fmt.int(r.refusedCounted), fmt.int(r.silentlyLost),
        r.queryable ? `${r.queryable.p50} / ${r.queryable.p99}` : '-', r.puback ? r.puback.p99 : '-', `${r.peakRssMiB} MiB`, fmt.f1(r.gatewayCpuS),
      ]);
    }
    const targets: Target[] = runs.flatMap((r) => [
      { what: `${r.name}: peak RSS per process`, target: '≤ 350 MiB', measured: `${r.peakRssMiB} MiB`, met: r.peakRssMiB <= 350 },
      { what: `${r.name}: publish → queryable p99 during the burst`, target: '≤ 5,000 ms', measured: r.queryable ? `${r.queryable.p99} ms` : 'none seen', met: r.queryable !== null && r.queryable.p99 <= 5_000 },
      { what: `${r.name}: readings lost without a count`, target: '0', measured: fmt.int(r.silentlyLost), met: r.silentlyLost === 0 },
    ]);
    results.targets = targets;
    const path = await saveResults('burst', results);
    process.stdout.write(`\nBurst: ${fmt.int(o.devices)} devices × ${fmt.int(o.perDevice)} readings, one per message, as fast as they go (QoS 1 window ${o.window})\n`);
    process.stdout.write(`${table(rows)}\n\n${targetsTable(targets)}\n\nresults: ${path}\n`);
    return { ok: targets.every((t) => t.met !== false) };
  } finally {
    await influx.stop();
    await seed.remove();
  }
}

/** The gateway's memory as its metrics give it: RSS, V8 heap used / reserved, buffers outside the heap (MiB). */
async function memoryOf(httpUrl: string): Promise<string> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text().catch(() => '');
  const mib = (name: string) => Math.round(counterSum(text, name) / 2 ** 20);
  return `RSS ${mib('ug_process_process_resident_memory_bytes')} MiB, heap ${mib('ug_process_nodejs_heap_size_used_bytes')}/${mib('ug_process_nodejs_heap_size_total_bytes')} MiB, external ${mib('ug_process_nodejs_external_memory_bytes')} MiB`;
}

/** Sums a counter over its label sets in Prometheus text. */
function counterSum(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) n += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  return n;
}

async function gatewayBurst(
  o: BurstOptions, c: { name: string; qos: 0 | 1; workers: number }, dataDir: string, influxUrl: string,
  devices: LoadDevice[], probeDevice: LoadDevice, log: (m: string) => void,
): Promise<BurstResult> {
  const database = `burst_${c.name.replace(/-/g, '_')}`;
  log(`${c.name}: starting the gateway (${c.workers} worker${c.workers > 1 ? 's' : ''})`);
  const gw = await benchGateway({ dataDir, influxUrl, database, workers: c.workers });
  const watch = new ProcWatch(gw.pid, 'gateway');
  const load = new OpenLoop({ url: gw.url, devices, qos: c.qos, batch: 1, log: (m) => log(`${c.name}: ${m}`) });
  const store = storeFor(influxUrl, database);
  try {
    log(`${c.name}: idle gateway: ${await memoryOf(gw.httpUrl)}`);
    await load.connect();
    log(`${c.name}: ${fmt.int(devices.length)} devices connected: ${await memoryOf(gw.httpUrl)}`);
    const probeClient = await connectDevice(gw.url, probeDevice);
    const probe = new QueryableProbe(probeClient, probeDevice, store, c.qos);
    const expected = devices.length * o.perDevice;
    watch.sample();
    watch.mark();
    const t0 = performance.now();
    let firstQueryableS: number | null = null;
    let allStoredS: number | null = null;
    let stored = 0;
    let sendDone = false;
    // Memory and progress while the burst runs: what InfluxDB holds of it, every half second.
    const sampler = (async () => {
      let lastGrowth = performance.now();
      let last = 0;
      while (allStoredS === null) {
        watch.sample();
        try {
          stored = (await countPoints(influxUrl, database)) - probe.seen;
        } catch { /* database not made yet */ }
        const s = (performance.now() - t0) / 1000;
        if (stored > 0 && firstQueryableS === null) firstQueryableS = s;
        if (stored >= expected) allStoredS = s;
        if (stored > last) {
          last = stored;
          lastGrowth = performance.now();
        } else if (sendDone && performance.now() - lastGrowth > 30_000) break;
        const st = (await gw.status().catch(() => undefined)) as unknown as { readings: { received: number }; spool: { depthRecords: number }; ingest?: { waiting: number; paused: boolean } } | undefined;
        const mem = await memoryOf(gw.httpUrl);
        log(`${c.name}: ${s.toFixed(1)} s, ${fmt.int(stored)}/${fmt.int(expected)} in InfluxDB; gateway took ${fmt.int(st?.readings.received)}, ${fmt.int(st?.ingest?.waiting)} waiting${st?.ingest?.paused ? ' (reading paused)' : ''}, ${fmt.int(st?.spool.depthRecords)} in the spool; ${mem}${sendDone ? '' : '; still sending'}`);
        await sleep(500);
      }
    })();
    probe.start();
    log(`${c.name}: burst of ${fmt.int(expected)} readings from ${fmt.int(devices.length)} devices`);
    const r = await load.burst(o.perDevice, o.window);
    sendDone = true;
    log(`${c.name}: all sent in ${r.durationS.toFixed(1)} s (${fmt.int(r.sentReadings / r.durationS)}/s)${r.puback ? `, PUBACK p99 ${r.puback.p99} ms, ${fmt.int(r.unacked)} unacknowledged` : ''}`);
    // The probe sends until the gateway has stored the whole burst (what devices sent waits in
    // their sockets well after they sent it); then its readings, each until it could be queried.
    await sampler;
    await probe.stop(60_000);
    const queryable = probe.take();
    const cpu = watch.read();
    await drained(gw, 30_000);
    watch.sample();
    const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text();
    const ingest = ((await gw.status()) as unknown as { ingest?: { peakWaiting: number; pauses: number } }).ingest;
    const refusedCounted = counterSum(metrics, 'ug_messages_refused_total');
    stored = (await countPoints(influxUrl, database)) - probe.seen;
    await probeClient.endAsync(true);
    const res: BurstResult = {
      name: c.name, qos: c.qos, workers: c.workers, sent: r.sentReadings, sendS: r.durationS, firstQueryableS, allStoredS, stored, refusedCounted,
      silentlyLost: Math.max(0, r.sentReadings - stored - refusedCounted), queryable, puback: r.puback, peakRssMiB: Math.round(watch.peakRss / 2 ** 20), gatewayCpuS: cpu.cpuS,
    };
    log(`${c.name}: ${fmt.int(stored)} stored, ${fmt.int(refusedCounted)} refused and counted, ${fmt.int(res.silentlyLost)} lost silently; first queryable at ${fmt.f1(firstQueryableS)} s, all at ${fmt.f1(allStoredS)} s; queryable p99 ${queryable?.p99 ?? '-'} ms; peak RSS ${res.peakRssMiB} MiB; ingest queue peak ${ingest?.peakWaiting ?? '-'} messages, reading paused ${ingest?.pauses ?? '-'} times`);
    for (const w of gw.warnings()) log(`${c.name}: gateway logged ${w}`);
    return res;
  } finally {
    await load.close();
    await gw.stop();
  }
}
