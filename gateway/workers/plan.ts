import { availableParallelism } from 'node:os';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';

/** How many gateway processes `gateway.workers` asks for (`auto`: one per core). */
export function workerCount(config: Readonly<ResolvedConfig>): number {
  const w = config.gateway.workers;
  return w === 'auto' ? Math.max(1, availableParallelism()) : w;
}

/** More than one worker shares sessions and routing through Redis: without it, a clear error. */
export function checkWorkers(config: Readonly<ResolvedConfig>, count: number): void {
  if (count > 1 && !config.cluster.redisUrl) {
    throw new UsageGatewayError('GW_ERR_REDIS_UNAVAILABLE', `gateway.workers is ${config.gateway.workers === 'auto' ? `auto (${count} cores)` : count}, and workers share MQTT sessions, retained messages and routing through Redis, but cluster.redisUrl is not set; set it (redis://host:6379) or run one worker (gateway.workers: 1)`);
  }
}

const WORKER_DIR = /^worker-(\d{1,3})$/;

/** The spool folder of worker `index` of a gateway of `count` workers; one worker keeps spool.dir itself. */
export function workerSpoolDir(config: Readonly<ResolvedConfig>, index: number, count: number): string {
  return count === 1 ? config.spool.dir : join(config.spool.dir, `worker-${index}`);
}

/**
 * The spool folders no worker of this gateway owns, that worker `index` writes out and lets
 * go: those of workers numbered `count` and above (the gateway ran more workers before), one
 * worker in `count` each; and, for worker 0 of several, the spool of a one-worker gateway.
 */
export function spoolsToTakeOver(config: Readonly<ResolvedConfig>, index: number, count: number): string[] {
  const root = config.spool.dir;
  if (!existsSync(root)) return [];
  const names = readdirSync(root);
  const out: string[] = [];
  if (count > 1 && index === 0 && names.some((n) => n.endsWith('.seg'))) out.push(root);
  for (const n of names) {
    const m = WORKER_DIR.exec(n);
    if (!m) continue;
    const k = Number(m[1]);
    if ((count === 1 || k >= count) && k % count === index) out.push(join(root, n));
  }
  return out.sort();
}

/** The configuration a worker runs with: its own spool folder, the rest shared. */
export function workerConfig(config: Readonly<ResolvedConfig>, index: number, count: number): Readonly<ResolvedConfig> {
  return { ...config, spool: { ...config.spool, dir: workerSpoolDir(config, index, count) } };
}

