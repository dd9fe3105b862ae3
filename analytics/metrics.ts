import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The analytics service's figures on /metrics (triggers by rule, suppressions, deliveries). */
export function createAnalyticsMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ug_analytics_process_' });
  return {
    registry,
    fired: new Counter({ name: 'ug_triggers_fired_total', help: 'Triggers created, by rule and category', labelNames: ['rule', 'category'], registers: [registry] }),
    suppressed: new Counter({ name: 'ug_triggers_suppressed_total', help: 'Candidates the policy held back, by rule and reason', labelNames: ['rule', 'reason'], registers: [registry] }),
    deliveries: new Counter({ name: 'ug_trigger_deliveries_total', help: 'Delivery attempts, by sink and outcome (delivered, retry, dead, dropped)', labelNames: ['sink', 'outcome'], registers: [registry] }),
    dropped: new Counter({ name: 'ug_trigger_dropped_total', help: 'Deliveries dropped at the attempt because their grounds were gone, by sink and reason (consent-withdrawn, device-removed, owner-changed)', labelNames: ['sink', 'reason'], registers: [registry] }),
    feedback: new Counter({ name: 'ug_trigger_feedback_total', help: 'Feedback received, by rule and outcome', labelNames: ['rule', 'outcome'], registers: [registry] }),
    outboxDepth: new Gauge({ name: 'ug_trigger_outbox_depth', help: 'Deliveries waiting in the outbox', registers: [registry] }),
    runs: new Counter({ name: 'ug_analytics_runs_total', help: 'Analytics runs, by result', labelNames: ['result'], registers: [registry] }),
    runSeconds: new Histogram({ name: 'ug_analytics_run_seconds', help: 'Duration of one analytics run', buckets: [1, 5, 15, 60, 300, 900, 3600], registers: [registry] }),
  };
}

export type AnalyticsMetrics = ReturnType<typeof createAnalyticsMetrics>;
