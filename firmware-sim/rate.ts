import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Paces work to a rate: each caller reserves the next slot and waits for it. One limiter is
 * shared by all workers, so the rate holds however many run at once.
 */
export class RateLimiter {
  private nextMs = 0;
  constructor(private readonly perSecond: number) {}

  async take(n = 1): Promise<void> {
    if (!(this.perSecond > 0)) return;
    const now = performance.now();
    const start = Math.max(now, this.nextMs);
    this.nextMs = start + (n * 1000) / this.perSecond;
    if (start - now >= 1) await sleep(start - now);
  }
}
