import type { Feedback, Trigger } from '../../protocol/trigger.ts';

export type DeliveryResult =
  | { ok: true }
  | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** Something a trigger, or a feedback of it, is delivered to. */
export interface Sink {
  name: string;
  deliverTrigger(t: Trigger): Promise<DeliveryResult>;
  /** Sinks that do not carry feedback answer ok. */
  deliverFeedback?(t: Trigger, fb: Feedback): Promise<DeliveryResult>;
  close?(): Promise<void>;
}
