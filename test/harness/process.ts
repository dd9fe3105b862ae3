import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/usage-gateway.mjs', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, in a child process. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface GatewayProcess {
  child: ChildProcess;
  pid: number;
  mqttPort: number;
  httpPort: number;
  /** Log lines (parsed JSON) seen so far. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Peak resident set size (VmHWM) and current RSS (VmRSS), in bytes, from /proc. */
  memory(): { peak: number; rss: number };
}

/**
 * `usage-gateway gateway` in a child process; resolves once it logged "gateway started".
 * `openFileLimit` starts it under that soft limit of open files (`ulimit -n`), as a host would.
 */
export function startGatewayProcess(env: NodeJS.ProcessEnv, opts: { openFileLimit?: number } = {}): Promise<GatewayProcess> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = opts.openFileLimit === undefined
      ? [process.execPath, [CLI, 'gateway']]
      : ['/bin/sh', ['-c', 'ulimit -n "$0" && exec "$1" "$2" gateway', String(opts.openFileLimit), process.execPath, CLI]];
    const child = spawn(cmd, args, { env: { ...process.env, UG_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: Array<Record<string, unknown>> = [];
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    exited.then((code) => reject(new Error(`gateway exited with ${code} before starting: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'gateway started') {
        const a = entry.addresses as { mqtt: number; http: number };
        resolve({
          child, pid: child.pid!, mqttPort: a.mqtt, httpPort: a.http, logs, exited,
          async kill(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
          memory() {
            const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
            const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
            return { peak: kb('VmHWM'), rss: kb('VmRSS') };
          },
        });
      }
    });
  });
}
