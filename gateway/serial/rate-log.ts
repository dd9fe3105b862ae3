import type { Logger } from '../../core/log.ts';

/**
 * Logs a kind of event at most once per interval, with how many were held back since the
 * last line: a device spewing noise must not turn the log into a second copy of it.
 */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; held: number }>();

  constructor(private readonly log: Logger, private readonly everyMs: number) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.everyMs) {
      seen.held++;
      return;
    }
    this.log.warn({ ...fields, ...(seen?.held ? { sinceLastLog: seen.held } : {}) }, msg);
    this.last.set(key, { at: now, held: 0 });
  }
}
