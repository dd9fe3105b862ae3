import { readFileSync } from 'node:fs';
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

/** A process watched over an interval: CPU used between mark() and read(), peak RSS. */
export class ProcWatch {
  private cpu0 = 0;
  private t0 = 0;
  peakRss = 0;
  constructor(readonly pid: number, readonly name: string) {}

  mark(): void {
    this.cpu0 = cpuSeconds(this.pid);
    this.t0 = performance.now();
  }

  /** CPU seconds since mark(), its share of one core, and the RSS now. */
  read(): { cpuS: number; cores: number; rss: number } {
    const cpuS = cpuSeconds(this.pid) - this.cpu0;
    const wallS = (performance.now() - this.t0) / 1000;
    const { rss, peak } = memory(this.pid);
    this.peakRss = Math.max(this.peakRss, peak);
    return { cpuS, cores: wallS > 0 ? cpuS / wallS : 0, rss };
  }

  /** Samples the peak while the process lives (VmHWM survives only until it exits). */
  sample(): void {
    try {
      this.peakRss = Math.max(this.peakRss, memory(this.pid).peak);
    } catch { /* gone */ }
  }
}

export const MiB = 1024 * 1024;
