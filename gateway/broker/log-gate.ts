/**
 * At most one log line per key (a remote address, a client) per interval: a client that
 * repeats what gets it refused is counted every time in the metrics, but fills the log once.
 * The line after a quiet interval says how many went unlogged before it.
 */
export class LogGate {
  private readonly keys = new Map<string, { at: number; unlogged: number }>();
  private readonly everyMs: number;
  private readonly maxKeys: number;

  constructor(everyMs: number, maxKeys = 10_000) {
    this.everyMs = everyMs;
    this.maxKeys = maxKeys;
  }

  /**
   * Whether to log this event: undefined when `key` was logged within the interval (the event
   * is counted towards the next line), else the number of events left unlogged before it.
   */
  pass(key: string, now = Date.now()): number | undefined {
    const k = this.keys.get(key);
    if (k && now - k.at < this.everyMs) {
      k.unlogged++;
      return undefined;
    }
    const unlogged = k?.unlogged ?? 0;
    // Re-inserted, so the map is ordered by the time of the last line and the oldest go first.
    this.keys.delete(key);
    this.keys.set(key, { at: now, unlogged: 0 });
    if (this.keys.size > this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    return unlogged;
  }
}

/**
 * A string sent by a client, made fit for a log line: printable ASCII only (anything else
 * becomes "?"), at most `max` characters.
 */
export function printable(value: string, max = 64): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…(${value.length} characters)` : clean;
}
