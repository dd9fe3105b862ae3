import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on every common Linux). */
const HZ = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields we need come after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / HZ; // utime, stime (fields 14 and 15)
}

/** Resident set size now and at its peak (VmRSS, VmHWM), in bytes. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** A process and its descendants (the workers of a multi-worker gateway), from /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch { /* gone */ }
    for (const tid of tasks) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch { /* gone */ }
    }
  }
  return out;
}

/** Sums over the processes of a tree that still run. */
function overTree<T>(pid: number, f: (p: number) => T): T[] {
  return processTree(pid).flatMap((p) => {
    try {
      return [f(p)];
    } catch {
      return [];
    }
  });
}

/**
 * A process, with its children, watched over an interval: CPU used between mark() and read()
 * (the whole tree), RSS (the whole tree) and peak RSS (the largest process of the tree).
 */
export class ProcWatch {
  private cpu0 = 0;
  private t0 = 0;
  peakRss = 0;
  constructor(readonly pid: number, readonly name: string) {}

  private cpu(): number {
    return overTree(this.pid, cpuSeconds).reduce((a, b) => a + b, 0);
  }

  mark(): void {
    this.cpu0 = this.cpu();
    this.t0 = performance.now();
  }

  /** CPU seconds since mark(), its share of one core, the RSS now (all processes), and the processes. */
  read(): { cpuS: number; cores: number; rss: number; processes: number } {
    const cpuS = this.cpu() - this.cpu0;
    const wallS = (performance.now() - this.t0) / 1000;
    const mem = overTree(this.pid, memory);
    this.peakRss = Math.max(this.peakRss, ...mem.map((m) => m.peak));
    return { cpuS, cores: wallS > 0 ? cpuS / wallS : 0, rss: mem.reduce((n, m) => n + m.rss, 0), processes: mem.length };
  }

  /** Samples the peak while the processes live (VmHWM survives only until one exits). */
  sample(): void {
    this.peakRss = Math.max(this.peakRss, ...overTree(this.pid, (p) => memory(p).peak));
  }
}

export const MiB = 1024 * 1024;
