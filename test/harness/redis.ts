import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './influx-local.ts';

export interface TestRedis {
  url: string;
  port: number;
  /** Stops redis-server (SIGTERM, then SIGKILL) and removes its throwaway folder. */
  stop(): Promise<void>;
  /** SIGKILL, for outage tests; restart() brings it back (empty) on the same port. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/** Waits for redis-server to say it is ready, or to exit (e.g. the port was taken). */
function ready(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server not ready within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(ok);
    };
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('Ready to accept connections')) done(true);
    };
    const onExit = () => done(false);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A private redis-server on a free port, nothing saved, in a throwaway folder. */
export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'ug-redis-'));
  const launch = async (port: number): Promise<ChildProcess | undefined> => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    if (!(await ready(child, 10_000))) return undefined; // the port was taken before redis-server bound it
    child.stdout?.resume(); // keep draining its log
    return child;
  };
  const end = async (child: ChildProcess, signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; !child; attempt++) {
    if (attempt >= 5) throw new Error('redis-server would not start on a free port');
    port = await freePort();
    child = await launch(port);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child) await end(child, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
    async kill() {
      if (child) await end(child, 'SIGKILL');
    },
    async restart() {
      const next = await launch(port);
      if (!next) throw new Error(`redis-server would not start again on port ${port}`);
      child = next;
    },
  };
}
