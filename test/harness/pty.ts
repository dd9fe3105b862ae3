import { spawn, type ChildProcess } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI } from './process.ts';

/** A socat pseudo-terminal pair: bytes written to one end come out of the other. */
export interface PtyPair {
  a: string;
  b: string;
  /** Kills socat: both ends disappear, like a USB adapter pulled out. */
  stop(): Promise<void>;
}

/** Starts `socat pty,link=A pty,link=B` in `dir`; resolves once socat moves data. */
export function ptyPair(dir: string, names: [string, string] = ['A', 'B']): Promise<PtyPair> {
  const a = join(dir, names[0]);
  const b = join(dir, names[1]);
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const onExit = () => reject(new Error(`socat exited before starting: ${stderr}`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (stderr.includes('starting data transfer loop')) {
        child.off('exit', onExit);
        child.stderr!.resume();
        resolve({
          a, b,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
  });
}

/** The device side of a pty: raw bytes in, like firmware printing to its UART. */
export class PtyWriter {
  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<PtyWriter> {
    return new PtyWriter(await open(path, 'r+'));
  }

  async write(data: string | Buffer): Promise<void> {
    await this.fh.write(typeof data === 'string' ? Buffer.from(data) : data);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Polls a condition (not a fixed sleep) until it holds or the time is up. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `usage-gateway serial …` in a child process, as a bench engineer runs it. */
export interface BridgeProcess {
  /** SIGTERM, then the exit code and what it printed on stderr (its summary). */
  stop(): Promise<{ code: number | null; stderr: string }>;
  /** SIGKILL if still running (for clean-ups after a failed test). */
  kill(): void;
}

/** Starts the bridge CLI with `args` after `serial`; resolves once it logged that the port is open. */
export function startBridgeProcess(args: string[], env: NodeJS.ProcessEnv): Promise<BridgeProcess> {
  const child = spawn(process.execPath, [CLI, 'serial', ...args], { env: { ...process.env, UG_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const handle: BridgeProcess = {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return { code: await exited, stderr };
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  return new Promise((resolve, reject) => {
    exited.then((code) => reject(new Error(`bridge exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"msg":"serial port open"')) resolve(handle);
    });
  });
}
