import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../config/load.ts';
import { startLocalInflux, type LocalInflux } from '../../test/harness/influx-local.ts';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import { CLI } from '../../test/harness/process.ts';
import { startTestRedis } from '../../test/harness/redis.ts';

export type { LocalInflux };

/** A private influxd for the whole run (its CPU is measured like the gateway's). */
export async function benchInflux(): Promise<LocalInflux & { pid: number }> {
  const influx = await startLocalInflux();
  return Object.assign(influx, { get pid() { return influx.process!.pid!; } });
}

export function storeFor(url: string, database: string): InfluxStore {
  return createInfluxStore(loadConfig({ env: {}, overrides: { influx: { url, database } } }).influx);
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface BenchGateway {
  child: ChildProcess;
  pid: number;
  url: string;
  httpUrl: string;
  database: string;
  status(): Promise<GatewayStatus>;
  /** Warnings and errors the gateway logged since the last call (its log is JSON on stdout). */
  warnings(): string[];
  stop(): Promise<void>;
}

export interface GatewayStatus {
  spool: { depthRecords: number; depthBytes: number };
  readings: { received: number; written: number };
}

/**
 * The gateway as it runs in production, `usage-gateway gateway` in its own process, so that
 * its CPU and memory are its own. `nodeArgs` (e.g. --cpu-prof) go to node itself.
 */
export async function benchGateway(o: { dataDir: string; influxUrl: string; database: string; env?: Record<string, string>; nodeArgs?: string[]; workers?: number }): Promise<BenchGateway> {
  // Several workers share sessions and routing through Redis: a private one for the run.
  const redis = (o.workers ?? 1) > 1 ? await startTestRedis() : undefined;
  const env = {
    ...process.env,
    UG_LOG_LEVEL: 'info',
    UG_DATA_DIR: o.dataDir,
    UG_MQTT_HOST: '127.0.0.1',
    UG_MQTT_PORT: '0',
    UG_HTTP_HOST: '127.0.0.1',
    UG_HTTP_PORT: '0',
    UG_INFLUX_URL: o.influxUrl,
    UG_INFLUX_DATABASE: o.database,
    // All load comes from one address: lift the per-address cap for the benchmark.
    UG_MQTT_MAX_CONNECTIONS_PER_IP: '1000000',
    UG_MQTT_MAX_CONNECTIONS: '1000000',
    ...(redis ? { UG_GATEWAY_WORKERS: String(o.workers), UG_CLUSTER_REDIS_URL: redis.url } : {}),
    ...o.env,
  };
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), CLI, 'gateway'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const warnings: string[] = [];
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r())).then(() => redis?.stop());
  const ports = await new Promise<{ mqtt: number; http: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before starting: ${stderr}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (/"level":(4|5|6)0/.test(line) && warnings.length < 50) warnings.push(line.slice(0, 300));
      if (!line.includes('"gateway started"')) return;
      try {
        resolve(JSON.parse(line).addresses);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  return {
    child, pid: child.pid!, url: `mqtt://127.0.0.1:${ports.mqtt}`, httpUrl, database: o.database,
    async status() {
      const res = await fetch(`${httpUrl}/status`, { signal: AbortSignal.timeout(10_000) });
      return (await res.json()) as GatewayStatus;
    },
    warnings: () => warnings.splice(0),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A bare Aedes broker (bench/bare-aedes.ts) in its own process. */
export function bareAedes(): Promise<{ child: ChildProcess; pid: number; url: string; stop(): Promise<void> }> {
  const entry = fileURLToPath(new URL('../bare-aedes.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare Aedes exited with ${code}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const port = Number(JSON.parse(line).port);
      resolve({
        child, pid: child.pid!, url: `mqtt://127.0.0.1:${port}`,
        stop: () => new Promise((r) => {
          if (child.exitCode !== null) return r();
          child.once('exit', () => r());
          child.kill('SIGTERM');
        }),
      });
    });
  });
}
