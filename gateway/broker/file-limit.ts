import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** What the kernel allows when the limit says "unlimited" (Linux fs.nr_open default). */
const UNLIMITED = 1_048_576;
/** Assumed when the limit cannot be read at all: the common soft limit. */
const UNKNOWN = 1_024;

/**
 * The process's soft limit of open files (RLIMIT_NOFILE), read once at start: from
 * /proc/self/limits on Linux, else from `ulimit -n` in a child shell, which inherits it.
 */
export function openFileLimit(): { limit: number; source: string } {
  const parse = (v: string | undefined) => (v === 'unlimited' ? UNLIMITED : v && /^\d+$/.test(v) ? Number(v) : undefined);
  try {
    const soft = parse(/^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);
    if (soft) return { limit: soft, source: '/proc/self/limits' };
  } catch {
    // not Linux: ask a shell
  }
  try {
    const soft = parse(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 5_000 }).trim());
    if (soft) return { limit: soft, source: 'ulimit -n' };
  } catch {
    // no shell either
  }
  return { limit: UNKNOWN, source: 'assumed' };
}

export interface ConnectionLimits {
  openFileLimit: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
}

/**
 * The connection caps: as configured, or derived from the open-file limit. Every connection
 * holds a descriptor, and so do the spool, the dead-letter store, InfluxDB and HTTP; past the
 * limit the kernel refuses the process new descriptors and connections are dropped without a
 * word. So by default MQTT gets the limit less a tenth of it (at least 64, at most 1,024),
 * and one address a quarter of that: well under the limit, so one address cannot take every
 * descriptor with connections that never log in.
 */
export function connectionLimits(openFiles: number, configured: { maxConnections?: number; maxConnectionsPerIp?: number }): ConnectionLimits {
  const reserve = Math.min(1_024, Math.max(64, Math.ceil(openFiles / 10)));
  const maxConnections = configured.maxConnections ?? Math.max(1, openFiles - reserve);
  const maxConnectionsPerIp = configured.maxConnectionsPerIp ?? Math.max(1, Math.floor(maxConnections / 4));
  return { openFileLimit: openFiles, maxConnections, maxConnectionsPerIp };
}

/** Descriptors this process has open, or undefined where that cannot be counted. */
function countOpenFiles(): number | undefined {
  for (const dir of ['/proc/self/fd', '/dev/fd']) {
    try {
      return readdirSync(dir).length - 1; // less the one the listing itself holds
    } catch {
      // try the next
    }
  }
  return undefined;
}

/**
 * Whether one more connection leaves enough descriptors free. When the process runs out,
 * Node's accept loop (libuv) closes the connections it cannot accept without telling anyone;
 * refusing them here first keeps `headroom` descriptors for the HTTP side, the spool and
 * InfluxDB, and says so in the log and the metrics. The descriptors that are not MQTT
 * connections are counted only near the limit (a listing of /proc/self/fd costs as much as
 * there are descriptors), at most every 100 ms.
 */
export class DescriptorBudget {
  private readonly limit: number;
  private readonly headroom: number;
  private others = 0;
  private sampledAt = -Infinity;
  private readonly countable: boolean;

  constructor(limit: number, headroom = 32) {
    this.limit = limit;
    this.headroom = headroom;
    this.countable = countOpenFiles() !== undefined;
  }

  /** Counts the descriptors that are not connections, given the connections open now. */
  sample(connections: number): void {
    const open = countOpenFiles();
    if (open === undefined) return;
    this.others = Math.max(0, open - connections);
    this.sampledAt = Date.now();
  }

  /** Whether a connection just accepted, beyond the `connections` already open, may stay. */
  fits(connections: number): boolean {
    if (!this.countable) return true;
    const fits = () => connections + 1 + this.others + this.headroom <= this.limit;
    if (fits() && connections + this.others < this.limit * 0.9) return true;
    // Near the limit: look at the real count. The new connection's descriptor is open already.
    if (Date.now() - this.sampledAt >= 100) this.sample(connections + 1);
    return fits();
  }
}
