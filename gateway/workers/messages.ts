/** What the primary asks a worker over the cluster IPC channel. */
export type ToWorker =
  | { ug: 'status'; id: number }
  | { ug: 'ready'; id: number }
  | { ug: 'metrics'; id: number }
  | { ug: 'stop' };

/** What a worker tells the primary. */
export type FromWorker =
  | { ug: 'started'; addresses: { mqtt: number; mqtts?: number; ws?: number } }
  | { ug: 'failed'; code?: string; message: string }
  | { ug: 'reply'; id: number; body: unknown };

/** A message of ours on the IPC channel (prom-client's own carry `type`, not `ug`). */
export function isOurs<T extends ToWorker | FromWorker>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { ug?: unknown }).ug === 'string';
}
