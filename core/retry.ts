/**
 * The one retry policy: exponential backoff from `minMs`, capped at `maxMs`, each delay drawn
 * between half and all of its step ("equal jitter", so many clients that failed together do not
 * retry in lockstep, yet none retries at once), and a server's `Retry-After` honoured up to the
 * cap (a server asking for an hour is still looked at again after the longest backoff).
 * The InfluxDB writer, the serial bridge and the analytics outbox all use it.
 */
export interface RetryPolicy {
  /** First delay, before jitter. */
  minMs: number;
  /** Longest delay, Retry-After included. */
  maxMs: number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(step / 2 + random() * (step / 2));
}

/** The backoff, or what the server asked for (Retry-After) if that is longer, never past the cap. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const asked = retryAfterMs === undefined ? 0 : Math.min(Math.max(0, retryAfterMs), policy.maxMs);
  return Math.max(backoffMs(attempt, policy, random), asked);
}

/**
 * An HTTP `Retry-After` value (seconds, or an HTTP date) as milliseconds from now; undefined
 * when absent or unreadable. RFC 9110 §10.2.3.
 */
export function parseRetryAfter(value: string | readonly string[] | null | undefined, nowMs = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : (value as string | null | undefined);
  if (v === undefined || v === null || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  // An HTTP date names its weekday or month; a bare "-5" would otherwise parse as a year.
  const at = /[A-Za-z]/.test(v) ? Date.parse(v) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
