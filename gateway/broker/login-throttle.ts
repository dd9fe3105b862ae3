export interface LoginThrottleOptions {
  /** Failed logins from one address after which it is throttled. */
  failuresAllowed: number;
  /** First throttle period; doubles with each further failure. */
  minMs: number;
  /** Longest throttle period; failures are forgotten after twice this time without one. */
  maxMs: number;
  /** Addresses remembered at most; the least recently failed are forgotten first. */
  maxAddresses?: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  until: number;
}

/**
 * Failed logins per remote address, with exponential back-off. While an address is
 * throttled its logins are refused before any secret is checked, so a flood of wrong secrets
 * costs one map lookup each instead of a hash, and guessing slows to one try per back-off.
 *
 * A successful login does not clear an address: behind a NAT, one device's success says
 * nothing about the failures of another, and a guesser holding one valid secret could
 * otherwise reset its own count. Attempts refused while throttled do not lengthen the
 * back-off; only a failure checked after it ends does.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly failuresAllowed: number;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly maxAddresses: number;

  constructor(o: LoginThrottleOptions) {
    this.failuresAllowed = o.failuresAllowed;
    this.minMs = o.minMs;
    this.maxMs = o.maxMs;
    this.maxAddresses = o.maxAddresses ?? 100_000;
  }

  /** Milliseconds the address is still throttled for; 0 when it may try. */
  blockedFor(key: string, now = Date.now()): number {
    const e = this.entries.get(key);
    return e && e.until > now ? e.until - now : 0;
  }

  /** Records a failed login; returns how long the address is now throttled for (0: not yet). */
  failed(key: string, now = Date.now()): number {
    let e = this.entries.get(key);
    if (e && now - e.lastFailure > 2 * this.maxMs) e = undefined;
    e ??= { failures: 0, lastFailure: now, until: 0 };
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - this.failuresAllowed;
    if (over >= 0) e.until = now + Math.min(this.maxMs, this.minMs * 2 ** Math.min(over, 30));
    // Re-inserted, so the map is ordered by last failure and the stalest are dropped first.
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.maxAddresses) this.entries.delete(this.entries.keys().next().value!);
    return Math.max(0, e.until - now);
  }

  /** Failed logins remembered for the address. */
  failures(key: string): number {
    return this.entries.get(key)?.failures ?? 0;
  }
}
