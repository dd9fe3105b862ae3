import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashSecret, verifySecret } from '../core/registry/index.ts';
import { scryptEraHash, writeScryptEra } from '../test/harness/secrets.ts';
import { benchGateway, benchInflux, tempDir } from './lib/env.ts';
import { benchFleet, loadDevices, provision, type LoadDevice } from './lib/fleet.ts';
import { ProcWatch } from './lib/proc.ts';
import { fmt, machine, progress, saveResults, table, targetsTable, type Target } from './lib/report.ts';
import { histogram, percentiles } from './lib/stats.ts';
import { StormClient } from './lib/storm-client.ts';

export interface AuthOptions {
  quick: boolean;
  /** Registered devices that reconnect at once. */
  devices: number;
  /** Connections the storm keeps opening at a time (a restarted broker sees them all at once). */
  inflight: number;
  /** A folder for a CPU profile of each gateway process. */
  cpuProf?: string;
}

interface StormResult {
  form: string;
  devices: number;
  connected: number;
  failed: number;
  /** Until every device was connected and its first reading acknowledged. */
  allS: number;
  connectP50Ms: number | null;
  connectP99Ms: number | null;
  gatewayCpuS: number;
  gatewayCpuMsPerConnect: number;
  /** Devices connected (login and one reading) per second of gateway CPU. */
  connectsPerCpuS: number;
  /** CPU of this process, the storm's generator, per connection. */
  generatorCpuMsPerConnect: number;
}

/**
 * Secret verification, and a reconnect storm: every registered device connects at once (as
 * after a broker restart), authenticates and publishes one QoS 1 reading. The same storm runs
 * against the registry in its fast form (SHA-256) and, as the baseline of the same run, against
 * the same registry as older versions wrote it (scrypt, upgraded by the gateway as devices log in).
 */
export async function runAuth(o: AuthOptions): Promise<{ ok: boolean }> {
  const log = progress('auth');
  const secret = 'x'.repeat(43);
  const fast = hashSecret(secret);
  const slow = scryptEraHash(secret);
  const verify = async (hash: string, n: number) => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) if (!(await verifySecret(secret, hash))) throw new Error('verification failed');
    const u = process.cpuUsage(t0);
    return (u.user + u.system) / n; // µs of CPU per verification
  };
  log('secret verification in this process…');
  const perVerify = { sha256: await verify(fast, o.quick ? 20_000 : 200_000), scrypt: await verify(slow, o.quick ? 200 : 2_000) };
  log(`sha256 ${perVerify.sha256.toFixed(2)} µs, scrypt ${(perVerify.scrypt / 1000).toFixed(2)} ms of CPU per verification`);

  const influx = await benchInflux();
  const dir = await tempDir('ug-bench-auth-');
  try {
    const fleet = benchFleet(o.devices, 'auth');
    log(`provisioning ${o.devices} devices…`);
    const secrets = await provision(dir.dir, fleet, log);
    const devices = loadDevices(fleet, secrets, 1);
    const registry = join(dir.dir, 'registry.json');
    const pristine = join(dir.dir, 'registry.fast.json');
    await copyFile(registry, pristine);
    const storms: StormResult[] = [];
    for (const [form, workers] of [['sha256', 1], ['scrypt (older registries)', 1], ['sha256, gateway.workers 2', 2]] as const) {
      await copyFile(pristine, registry);
      if (form.startsWith('scrypt')) {
        log('rewriting the registry with scrypt hashes…');
        await writeScryptEra(registry, secrets);
      }
      storms.push(await storm(form, workers, dir.dir, influx.url, devices, o, log));
    }
    const [s, baseline, w2] = storms;
    const targets: Target[] = [
      { what: `${fmt.int(s.devices)} devices connected and publishing`, target: '≤ 10 s', measured: `${fmt.f1(s.allS)} s`, met: s.connected === s.devices && s.allS <= 10 },
      { what: `${fmt.int(w2.devices)} devices connected and publishing, gateway.workers 2`, target: '≤ 10 s', measured: `${fmt.f1(w2.allS)} s`, met: w2.connected === w2.devices && w2.allS <= 10 },
      { what: 'secret checks per second per core', target: '≥ 5,000', measured: fmt.int(1e6 / perVerify.sha256), met: 1e6 / perVerify.sha256 >= 5_000 },
      { what: 'whole connections (login + one reading) per second of gateway CPU', target: '≥ 5,000', measured: fmt.int(s.connectsPerCpuS), met: s.connectsPerCpuS >= 5_000 },
    ];
    const results = { benchmark: 'auth', at: new Date().toISOString(), machine: machine(), options: o, perVerifyUs: perVerify, storms, targets };
    const path = await saveResults('auth', results);
    process.stdout.write('\nSecret verification, CPU per verification (this process)\n');
    process.stdout.write(`${table([['hash', 'CPU per verification', 'per core per second'], ['sha256', `${perVerify.sha256.toFixed(2)} µs`, fmt.int(1e6 / perVerify.sha256)], ['scrypt N=2^10 (older registries)', `${(perVerify.scrypt / 1000).toFixed(2)} ms`, fmt.int(1e6 / perVerify.scrypt)]])}\n`);
    process.stdout.write(`\nReconnect storm: ${fmt.int(storms[0].devices)} registered devices connect at once (${o.inflight} opening at a time) and each publishes one QoS 1 reading\n`);
    process.stdout.write(`${table([['registry', 'connected', 'failed', 'all in', 'CONNACK p50', 'CONNACK p99', 'gateway CPU', 'CPU per connect', 'connects per CPU s', 'generator CPU per connect'],
      ...storms.map((r) => [r.form, fmt.int(r.connected), r.failed, `${fmt.f1(r.allS)} s`, `${fmt.int(r.connectP50Ms)} ms`, `${fmt.int(r.connectP99Ms)} ms`, `${fmt.f1(r.gatewayCpuS)} s`, `${r.gatewayCpuMsPerConnect.toFixed(2)} ms`, fmt.int(r.connectsPerCpuS), `${r.generatorCpuMsPerConnect.toFixed(2)} ms`])])}\n`);
    process.stdout.write(`fast form against the baseline: ${fmt.ratio(baseline.allS / s.allS)} faster to all connected, ${fmt.ratio(baseline.gatewayCpuMsPerConnect / s.gatewayCpuMsPerConnect)} less gateway CPU per connect\n\n`);
    process.stdout.write(`${targetsTable(targets)}\n\nresults: ${path}\n`);
    return { ok: targets.every((t) => t.met !== false) };
  } finally {
    await influx.stop();
    await dir.remove();
  }
}

async function storm(form: string, workers: number, dataDir: string, influxUrl: string, devices: LoadDevice[], o: AuthOptions, log: (m: string) => void): Promise<StormResult> {
  const gw = await benchGateway({ dataDir, influxUrl, database: 'bench_auth', workers, nodeArgs: o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProf, form.split(' ')[0])}`] : [] });
  const watch = new ProcWatch(gw.pid, 'gateway');
  const clients: StormClient[] = [];
  const connectUs = histogram();
  let failed = 0;
  try {
    log(`${form}: ${devices.length} devices connecting…`);
    watch.mark();
    const gen0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < devices.length) {
        const d = devices[next++];
        const c0 = performance.now();
        try {
          const client = await StormClient.open(gw.url, d);
          connectUs.recordValue(Math.max(1, Math.round((performance.now() - c0) * 1000)));
          clients.push(client);
          await client.publishQos1(d.topic, `{"ts":${Date.now()},"seq":1,${d.bodies[0]}}`);
        } catch (e) {
          if (failed++ === 0) log(`${form}: the first failed connection: ${(e as Error).message}`);
        }
      }
    };
    const ticker = setInterval(() => log(`${form}: ${clients.length} connected${failed ? `, ${failed} failed` : ''}`), 2_000);
    await Promise.all(Array.from({ length: Math.min(o.inflight, devices.length) }, worker));
    clearInterval(ticker);
    const allS = (performance.now() - t0) / 1000;
    const { cpuS } = watch.read();
    const gen = process.cpuUsage(gen0);
    const p = percentiles(connectUs);
    const r: StormResult = {
      form, devices: devices.length, connected: clients.length, failed, allS, connectP50Ms: p?.p50 ?? null, connectP99Ms: p?.p99 ?? null,
      gatewayCpuS: cpuS, gatewayCpuMsPerConnect: (cpuS * 1000) / Math.max(1, clients.length), connectsPerCpuS: clients.length / Math.max(cpuS, 1e-9),
      generatorCpuMsPerConnect: (gen.user + gen.system) / 1000 / Math.max(1, clients.length),
    };
    log(`${form}: ${r.connected} connected in ${allS.toFixed(1)} s, ${r.gatewayCpuMsPerConnect.toFixed(2)} ms gateway CPU per connect (the generator ${r.generatorCpuMsPerConnect.toFixed(2)} ms)`);
    return r;
  } finally {
    for (const c of clients) c.close();
    await gw.stop();
  }
}
