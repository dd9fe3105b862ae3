import type { InfluxStore } from '../../core/influx/index.ts';
import { formatPoint, timeNs } from '../../core/influx/index.ts';
import { feedbackTimeMs, type Feedback, type Trigger } from '../../protocol/trigger.ts';
import type { DeliveryResult, Sink } from './types.ts';

const subMs = (id: string) => parseInt(id.slice(0, 8), 16) % 1_000_000;

/**
 * The `trigger` point of a trigger; written again it overwrites itself (same key). It carries no
 * owner: the boards show products and rules, never who owns a device.
 */
export function triggerLine(t: Trigger): string {
  return formatPoint({
    measurement: 'trigger',
    tags: { rule_id: t.ruleId, category: t.category, kind: t.kind, model: t.model, device_id: t.deviceId },
    fields: {
      trigger_id: { type: 'string', value: t.id },
      rule_version: { type: 'int', value: t.ruleVersion },
      offer: { type: 'string', value: t.offer.type },
      target: { type: 'string', value: t.offer.target },
      summary: { type: 'string', value: t.evidence.summary },
    },
    timeNs: timeNs(Date.parse(t.createdAt), subMs(t.id)),
  });
}

export function feedbackLine(t: Trigger, fb: Feedback): string {
  return formatPoint({
    measurement: 'trigger_feedback',
    tags: { rule_id: t.ruleId, category: t.category, kind: t.kind, model: t.model, device_id: t.deviceId, outcome: fb.outcome },
    fields: { trigger_id: { type: 'string', value: t.id }, value: { type: 'int', value: 1 } },
    timeNs: timeNs(feedbackTimeMs(fb), subMs(t.id)),
  });
}

async function write(store: InfluxStore, line: string): Promise<DeliveryResult> {
  const r = await store.write(line);
  if (r.ok) return { ok: true };
  if (r.kind === 'refused') return { ok: false, retry: false, error: r.error };
  if (r.kind === 'missing-database') {
    await store.ensureDatabase().catch(() => undefined);
    return { ok: false, retry: true, error: r.error };
  }
  return { ok: false, retry: true, error: r.error, retryAfterMs: r.retryAfterMs };
}

/** Triggers into the measurement `trigger` and feedback into `trigger_feedback`, for the boards. */
export function influxSink(store: InfluxStore): Sink {
  return {
    name: 'influx',
    deliverTrigger: (t) => write(store, triggerLine(t)),
    deliverFeedback: (t, fb) => write(store, feedbackLine(t, fb)),
  };
}
