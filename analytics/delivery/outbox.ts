import type { Logger } from 'pino';
import { retryDelayMs } from '../../core/retry.ts';
import type { StateStore, OutboxEntry } from '../store/state.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import type { DeliveryResult, Sink } from './types.ts';

export interface OutboxOptions {
  state: StateStore;
  sinks: Sink[];
  retryMinMs: number;
  retryMaxMs: number;
  /** Dead-letter a delivery still failing this long after its first attempt. */
  deadlineMs: number;
  pollMs: number;
  /** Deliveries in flight at once. */
  concurrency?: number;
  log?: Logger;
  /**
   * Looked at before every attempt: the reason the trigger may no longer be delivered (consent
   * withdrawn, device removed, owner changed), or null. A reason drops the delivery for good.
   */
  check?(t: Trigger): Promise<{ reason: string; words: string } | null>;
  onResult?(sink: string, outcome: 'delivered' | 'retry' | 'dead' | 'dropped'): void;
  onDropped?(sink: string, reason: string): void;
}

/**
 * Drains the durable outbox: at-least-once delivery of every trigger to every sink, each with
 * the trigger id as its idempotency key; every attempt first re-checks the trigger's grounds; failures retried with backoff and jitter (honouring
 * Retry-After), dead-lettered after the deadline. start() polls; flush() drains now.
 */
export class Outbox {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private stopped = true;
  private readonly sinks: Map<string, Sink>;

  constructor(private readonly options: OutboxOptions) {
    this.sinks = new Map(options.sinks.map((s) => [s.name, s]));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.running = this.drainOnce().catch((err) => {
        this.options.log?.error({ err }, 'delivery loop failed; trying again');
        return 0;
      });
      void this.running.then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.options.pollMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    for (const s of this.sinks.values()) await s.close?.();
  }

  /** Delivers until nothing is due or the deadline passes; the number of deliveries attempted. */
  async flush(deadlineMs: number): Promise<number> {
    const until = Date.now() + deadlineMs;
    let n = 0;
    while (Date.now() < until) {
      const done = await this.drainOnce();
      n += done;
      if (done === 0) break;
    }
    return n;
  }

  /** One pass over what is due now. */
  async drainOnce(): Promise<number> {
    const concurrency = this.options.concurrency ?? 8;
    let total = 0;
    for (;;) {
      const now = Date.now();
      // The lease outlasts one attempt, so a crashed process's claims come back by themselves.
      const batch = await this.options.state.claimDue(now, concurrency * 4, 60_000);
      if (batch.length === 0) return total;
      total += batch.length;
      const queue = [...batch];
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
        for (let e = queue.shift(); e; e = queue.shift()) await this.deliver(e);
      }));
    }
  }

  private async deliver(e: OutboxEntry): Promise<void> {
    const { state, log } = this.options;
    const now = Date.now();
    const rec = state.get(e.triggerId);
    const sink = this.sinks.get(e.sink);
    let result: DeliveryResult;
    const drop = rec && this.options.check ? await this.options.check(rec.trigger) : null;
    if (drop) {
      await state.dropped(e, `${drop.reason}: ${drop.words}`, Date.now());
      log?.info({ trigger: e.triggerId, sink: e.sink, reason: drop.reason }, 'delivery dropped: its grounds are gone');
      this.options.onResult?.(e.sink, 'dropped');
      this.options.onDropped?.(e.sink, drop.reason);
      return;
    }
    if (!rec) result = { ok: false, retry: false, error: 'the trigger is no longer stored' };
    else if (!sink) result = { ok: false, retry: true, error: `sink ${e.sink} is not configured in this process` };
    else if (e.feedbackIndex !== undefined) {
      const fb = rec.feedback[e.feedbackIndex];
      result = fb && sink.deliverFeedback ? await sink.deliverFeedback(rec.trigger, fb) : { ok: true };
    } else result = await sink.deliverTrigger(rec.trigger);
    const after = Date.now();
    if (result.ok) {
      await state.delivered(e, after);
      this.options.onResult?.(e.sink, 'delivered');
      return;
    }
    const first = e.firstAttemptAt ?? now;
    if (!result.retry || after - first >= this.options.deadlineMs) {
      const reason = result.retry ? `still failing after ${Math.round((after - first) / 1000)} s: ${result.error}` : result.error;
      await state.deadLetter({ ...e, firstAttemptAt: first }, reason, after);
      log?.warn({ trigger: e.triggerId, sink: e.sink, attempts: e.attempts + 1, reason }, 'delivery dead-lettered');
      this.options.onResult?.(e.sink, 'dead');
      return;
    }
    const wait = retryDelayMs(e.attempts, { minMs: this.options.retryMinMs, maxMs: this.options.retryMaxMs }, result.retryAfterMs);
    await state.retry({ ...e, firstAttemptAt: first }, after + Math.min(wait, this.options.retryMaxMs), result.error, after);
    log?.debug({ trigger: e.triggerId, sink: e.sink, attempts: e.attempts + 1, error: result.error, retryInMs: Math.round(wait) }, 'delivery failed; will retry');
    this.options.onResult?.(e.sink, 'retry');
  }
}
