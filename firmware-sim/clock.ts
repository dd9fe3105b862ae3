/**
 * Simulated time: starts at `fromMs` and runs `speed` times as fast as the wall clock, but never
 * ahead of it (the gateway refuses readings from the future), so a compressed run catches up
 * with now and then goes on in real time.
 */
export class SimClock {
  private readonly wallStart: number;

  constructor(readonly fromMs: number, readonly speed: number, wallNow = Date.now()) {
    this.wallStart = wallNow;
  }

  now(wallNow = Date.now()): number {
    return Math.min(this.fromMs + (wallNow - this.wallStart) * this.speed, wallNow);
  }

  /** Wall-clock ms until simulated time reaches `t` (0 when it has). */
  wallMsUntil(t: number, wallNow = Date.now()): number {
    // Both bounds of now() must have passed t: the compressed clock and the wall clock.
    const at = Math.max(this.wallStart + (t - this.fromMs) / this.speed, t);
    return Math.max(0, at - wallNow);
  }
}
