import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { existsSync } from 'node:fs';

export interface LocalInflux {
  url: string;
  port: number;
  dataDir: string;
  process?: ChildProcess;
  /** Stops influxd (SIGTERM, then SIGKILL) and removes a throwaway data dir. */
  stop(): Promise<void>;
  /** SIGKILL, for outage tests. */
  kill(): Promise<void>;
  /** Starts influxd again on the same port and data dir. */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export function findInfluxd(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/local/bin', '/usr/sbin'])) {
    const p = join(dir, 'influxd');
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

export async function waitForPing(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`influxd exited with code ${child.exitCode} before answering`);
    try {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 204) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`InfluxDB at ${url} did not answer /ping within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const INFLUX_MISSING = 'influxd (InfluxDB 1.x) is not installed. Install it with `sudo apt-get install influxdb` (Debian/Ubuntu), or point UG_INFLUX_URL at a running InfluxDB 1.x.';

/**
 * Starts a private influxd on free ports. With no dataDir, a throwaway folder is made and
 * removed on stop(); with one (npm start uses .local/influxdb) the data survives restarts.
 */
export async function startLocalInflux(opts: { dataDir?: string; port?: number; log?: (line: string) => void } = {}): Promise<LocalInflux> {
  const bin = findInfluxd();
  if (!bin) throw new Error(INFLUX_MISSING);
  const throwaway = !opts.dataDir;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'ug-influx-')));
  await mkdir(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    const rpc = await freePort();
    child = spawn(bin, ['run', '-config', '/dev/null'], {
      env: {
        ...process.env,
        INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${port}`,
        INFLUXDB_BIND_ADDRESS: `127.0.0.1:${rpc}`,
        INFLUXDB_META_DIR: join(dataDir, 'meta'),
        INFLUXDB_DATA_DIR: join(dataDir, 'data'),
        INFLUXDB_DATA_WAL_DIR: join(dataDir, 'wal'),
        INFLUXDB_REPORTING_DISABLED: 'true',
        INFLUXDB_HTTP_LOG_ENABLED: 'false',
        INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
        INFLUXDB_LOGGING_LEVEL: 'warn',
        INFLUXDB_HTTP_MAX_BODY_SIZE: '0',
      },
      stdio: ['ignore', 'ignore', opts.log ? 'pipe' : 'ignore'],
      // Its own process group: a Ctrl-C in the terminal does not stop InfluxDB before the
      // processes that still write to it have drained; stop() ends it last.
      detached: true,
    });
    const started = child;
    process.once('exit', () => { if (started.exitCode === null && started.signalCode === null) started.kill('SIGKILL'); });
    child.stderr?.on('data', (d: Buffer) => opts.log?.(d.toString()));
    await waitForPing(url, 30_000, child);
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    url,
    port,
    dataDir,
    get process() {
      return child;
    },
    async stop() {
      await terminate('SIGTERM');
      if (throwaway) await rm(dataDir, { recursive: true, force: true });
    },
    async kill() {
      await terminate('SIGKILL');
    },
    async restart() {
      await terminate('SIGTERM');
      await launch();
    },
  };
}
