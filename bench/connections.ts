import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { benchGateway, benchInflux, tempDir } from './lib/env.ts';
import { benchFleet, provision } from './lib/fleet.ts';
import { connectDevice } from './lib/load.ts';
import { memory, ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';

export interface ConnectionsOptions {
  quick: boolean;
  /** Connection counts at which the gateway's memory is read. */
  counts: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Idle device connections held by one gateway process: registered devices connect (and
 * authenticate) at a steady rate and stay idle with a long keep-alive; at each count the
 * gateway's RSS is read after a pause.
 */
export async function runConnections(o: ConnectionsOptions): Promise<{ ok: boolean }> {
  const log = progress('connections');
  // Each connection is a descriptor in the gateway and in this process: stay under the limit.
  const limit = openFileLimit();
  const counts = o.counts.filter((n) => n <= limit - 500);
  if (counts.length < o.counts.length) log(`open-file limit ${limit} (ulimit -n; the hard limit could not be raised): skipping ${o.counts.filter((n) => !counts.includes(n)).join(', ')} connections`);
  if (counts.length === 0) throw new Error(`the open-file limit (${limit}) is too low for ${o.counts.join(', ')} connections; raise it with ulimit -n`);
  const max = Math.max(...counts);
  const influx = await benchInflux();
  const dir = await tempDir('ug-bench-conn-');
  const clients: MqttClient[] = [];
  try {
    const fleet = benchFleet(max, 'conn');
    log(`provisioning ${max} devices…`);
    const secrets = await provision(dir.dir, fleet, log);
    const gw = await benchGateway({ dataDir: dir.dir, influxUrl: influx.url, database: 'bench_connections' });
    const watch = new ProcWatch(gw.pid, 'gateway');
    try {
      await sleep(3_000);
      const idle = memory(gw.pid).rss;
      log(`gateway idle: RSS ${fmt.mib(idle)}`);
      const points: Array<{ connections: number; rssMiB: number; perConnectionKiB: number; connectS: number; gatewayCpuMsPerConnect: number; generatorRssMiB: number }> = [];
      let failed = 0;
      let next = 0;
      for (const target of [...counts].sort((a, b) => a - b)) {
        watch.mark();
        const t0 = performance.now();
        const worker = async () => {
          while (next < target) {
            const d = fleet.devices[next++];
            try {
              clients.push(await connectDevice(gw.url, { id: d.id, secret: secrets.get(d.id)! }, true, 3_000));
            } catch {
              failed++;
            }
          }
        };
        const opening = Promise.all(Array.from({ length: 64 }, worker));
        const ticker = setInterval(() => log(`${clients.length} connected${failed ? `, ${failed} failed` : ''}`), 2_000);
        await opening;
        clearInterval(ticker);
        const connectS = (performance.now() - t0) / 1000;
        const opened = watch.read();
        await sleep(o.quick ? 3_000 : 10_000);
        const status = (await gw.status()) as unknown as { connections: Record<string, number> };
        const rss = memory(gw.pid).rss;
        const held = status.connections.device ?? 0;
        const p = {
          connections: held, rssMiB: Math.round(rss / 2 ** 20), perConnectionKiB: Math.round(((rss - idle) / Math.max(1, held) / 1024) * 10) / 10,
          connectS: Math.round(connectS * 10) / 10, gatewayCpuMsPerConnect: Math.round((opened.cpuS * 1e6) / Math.max(1, target - (points.at(-1)?.connections ?? 0))) / 1000,
          generatorRssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        };
        points.push(p);
        log(`${held} connections held (gateway says), RSS ${p.rssMiB} MiB, ${p.perConnectionKiB} KiB per connection, ${p.gatewayCpuMsPerConnect} ms gateway CPU per connect`);
      }
      watch.sample();
      const top = points.at(-1)!;
      const at10k = points.find((p) => p.connections >= 10_000);
      const targets: Target[] = [
        { what: 'idle connections held by one gateway', target: '≥ 10,000', measured: fmt.int(top.connections), met: top.connections >= 10_000 },
        { what: 'RSS with 10,000 connections', target: '≤ 1 GiB', measured: at10k ? `${at10k.rssMiB} MiB` : '-', met: at10k ? at10k.rssMiB <= 1024 : null },
      ];
      const results = { benchmark: 'connections', at: new Date().toISOString(), machine: machine(), options: { ...o, counts, openFileLimit: limit }, idleRssMiB: Math.round(idle / 2 ** 20), failed, points, peakRssMiB: Math.round(watch.peakRss / 2 ** 20), targets };
      const path = await saveResults('connections', results);
      process.stdout.write(`\nIdle device connections, one gateway process (gateway idle: ${fmt.mib(idle)})\n`);
      process.stdout.write(`${table([['connections', 'gateway RSS', 'KiB per connection', 'connect time', 'gw CPU ms/connect'], ...points.map((p) => [fmt.int(p.connections), `${p.rssMiB} MiB`, p.perConnectionKiB, `${p.connectS} s`, p.gatewayCpuMsPerConnect])])}\n\n`);
      process.stdout.write(`${targetsTable(targets)}\n\nresults: ${path}\n`);
      return { ok: targets.every((t) => t.met !== false) };
    } finally {
      log(`closing ${clients.length} connections`);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
      await gw.stop();
    }
  } finally {
    await influx.stop();
    await dir.remove();
  }
}

/** The soft limit on open files of this process (children inherit it). */
function openFileLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}
