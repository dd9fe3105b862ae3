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
 * Processes, each with its children, watched over an interval: CPU used between mark() and read()
 * (all the trees together), RSS (all) and peak RSS (the largest process; per watched process in
 * `peakRssByPid`). Several pids for a pipeline of separate programs, e.g. the peer's Mosquitto
 * and Node-RED.
 */
export class ProcWatch {
  readonly pids: readonly number[];
  private cpu0 = 0;
  private t0 = 0;
  peakRss = 0;
  /** Peak RSS of each watched process's tree (its largest process), by the pid given. */
  readonly peakRssByPid = new Map<number, number>();
  constructor(pid: number | readonly number[], readonly name: string) {
    this.pids = typeof pid === 'number' ? [pid] : [...pid];
  }

  get pid(): number {
    return this.pids[0];
  }

  private cpu(): number {
    return this.pids.flatMap((p) => overTree(p, cpuSeconds)).reduce((a, b) => a + b, 0);
  }

  private peaks(f: (p: number) => { rss: number; peak: number }): number {
    let rss = 0;
    for (const pid of this.pids) {
      const mem = overTree(pid, f);
      rss += mem.reduce((n, m) => n + m.rss, 0);
      const peak = Math.max(this.peakRssByPid.get(pid) ?? 0, ...mem.map((m) => m.peak));
      this.peakRssByPid.set(pid, peak);
      this.peakRss = Math.max(this.peakRss, peak);
    }
    return rss;
  }

  mark(): void {
    this.cpu0 = this.cpu();
    this.t0 = performance.now();
  }

  /** CPU seconds since mark(), its share of one core, the RSS now (all processes), and the processes. */
  read(): { cpuS: number; cores: number; rss: number; processes: number } {
    const cpuS = this.cpu() - this.cpu0;
    const wallS = (performance.now() - this.t0) / 1000;
    const rss = this.peaks(memory);
    const processes = this.pids.reduce((n, p) => n + overTree(p, () => 1).length, 0);
    return { cpuS, cores: wallS > 0 ? cpuS / wallS : 0, rss, processes };
  }

  /** Samples the peaks while the processes live (VmHWM survives only until one exits). */
  sample(): void {
    this.peaks(memory);
  }
}

export const MiB = 1024 * 1024;
