import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CONSENT_PURPOSES } from './registry.ts';
import { DEVICE_ID_RE, TRIGGER_CATEGORIES } from './topics.ts';

/**
 * The trigger contract (docs/triggers.md): what analytics sends to marketing and service tools
 * over the webhook, MQTT `triggers/{category}/{ruleId}` and the API. The one definition; the
 * analytics engine, the API and any consumer written in TypeScript import it from here.
 */

export const RULE_ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** What a consumer reports back about a trigger. */
export const TRIGGER_OUTCOMES = ['accepted', 'declined', 'converted'] as const;
export type TriggerOutcome = (typeof TRIGGER_OUTCOMES)[number];

/** `open` until a consumer reports an outcome; then the latest outcome. */
export const TRIGGER_STATUSES = ['open', ...TRIGGER_OUTCOMES] as const;
export type TriggerStatus = (typeof TRIGGER_STATUSES)[number];

/** The offer (upsell, retention) or action (service) a trigger asks for. */
export const offerSchema = z
  .object({
    /** e.g. `model-upgrade`, `insurance-pay-as-you-drive`, `service-visit`, `retention-call`. */
    type: z.string().regex(/^[a-z0-9-]{1,64}$/),
    /** The model offered instead (model-upgrade), when there is one. */
    target: z.string().min(1).max(64).optional(),
    /** One line a person can read. */
    label: z.string().max(200).optional(),
  })
  .strict();
export type Offer = z.infer<typeof offerSchema>;

const figure = z.number().refine(Number.isFinite, 'expected a finite number');

/** The figures that made a trigger fire, with the thresholds they were held against. */
export const evidenceSchema = z
  .object({
    /** Plain words: what was seen, against what. */
    summary: z.string().min(1).max(1000),
    /** The time range the figures cover: [from, to). */
    window: z.object({ from: z.iso.datetime(), to: z.iso.datetime() }).strict(),
    /** Measured values, named with their unit (`overload_share`, `cycles_per_week`…). */
    figures: z.record(z.string(), figure),
    /** The thresholds of the rule that the figures crossed. */
    thresholds: z.record(z.string(), figure),
    /** One daily series behind the figures, for a small chart; `null` for a day with no data. */
    series: z
      .object({
        label: z.string().max(120),
        unit: z.string().max(20).optional(),
        /** Day starts (UTC) and the value of that day. */
        points: z.array(z.tuple([z.iso.datetime(), figure.nullable()])).max(400),
        /** A line to draw across the chart, when the rule has one. */
        threshold: figure.optional(),
      })
      .strict()
      .optional(),
    /**
     * How sure the rule was: the confidence bound (or margin) its figures cleared. `bound` is the
     * bound of the figure named `figure` at `level` (e.g. 0.9: one-sided 90%), or the figure
     * itself when the rule holds it to a margin (no `level`), against `threshold`.
     */
    confidence: z
      .object({
        summary: z.string().min(1).max(300),
        figure: z.string().max(64),
        bound: figure,
        threshold: figure,
        level: z.number().gt(0).lt(1).optional(),
      })
      .strict()
      .optional(),
    /** For fleet-relative rules: the model cohort the device was compared with. */
    cohort: z
      .object({ model: z.string(), devices: z.number().int().min(0), percentiles: z.record(z.string(), figure) })
      .strict()
      .optional(),
  })
  .strict();
export type Evidence = z.infer<typeof evidenceSchema>;

export const triggerSchema = z
  .object({
    /** Stable: the same rule, version, device and window give the same id (the idempotency key). */
    id: z.string().regex(/^[0-9a-f]{32}$/),
    ruleId: z.string().regex(RULE_ID_RE),
    ruleVersion: z.number().int().min(1),
    category: z.enum(TRIGGER_CATEGORIES),
    /** The consent purpose the owner gave for this trigger to exist. */
    purpose: z.enum(CONSENT_PURPOSES),
    deviceId: z.string().regex(DEVICE_ID_RE),
    kind: z.string().min(1),
    model: z.string().min(1),
    /** Pseudonymous customer id from the registry. */
    owner: z.string().min(1).max(128),
    offer: offerSchema,
    evidence: evidenceSchema,
    createdAt: z.iso.datetime(),
  })
  .strict();
export type Trigger = z.infer<typeof triggerSchema>;

/**
 * What a consumer posts back (POST /api/triggers/{id}/feedback). No `at`: feedback is timed by
 * the server, when it receives it, so that no client can date a decline years ahead and hold an
 * offer back for as long (a body with `at` is refused, like any unknown field).
 */
export const feedbackInputSchema = z
  .object({
    outcome: z.enum(TRIGGER_OUTCOMES),
    /** Free text from the person who recorded it; no personal data. */
    note: z.string().max(500).optional(),
    /** Who recorded it (a tool or team name). */
    by: z.string().max(64).optional(),
  })
  .strict()
  .describe('What came of a trigger. Its time is the time the API receives it; a body with "at" (or any other field) is refused.');
export type FeedbackInput = z.infer<typeof feedbackInputSchema>;

export interface Feedback extends FeedbackInput {
  /** When the feedback counts from: the time the API received it (see feedbackTimeMs). */
  at: string;
  receivedAt: string;
}

/**
 * The time a feedback counts from (decline suppression, its InfluxDB point): its `at`, but
 * never later than when it was received. Feedback stored while clients could still set `at`
 * may carry a time in the future; it counts from its receipt instead.
 */
export function feedbackTimeMs(fb: Pick<Feedback, 'at' | 'receivedAt'>): number {
  const at = Date.parse(fb.at);
  const received = Date.parse(fb.receivedAt);
  return Number.isNaN(at) ? received : Math.min(at, received);
}

/**
 * The stable trigger id: a hash of rule, version, device and window. Running the same job twice
 * over the same window gives the same id, which every sink uses as its idempotency key.
 */
export function triggerId(ruleId: string, ruleVersion: number, deviceId: string, windowFrom: string, windowTo: string): string {
  return createHash('sha256').update(`${ruleId}\n${ruleVersion}\n${deviceId}\n${windowFrom}\n${windowTo}`).digest('hex').slice(0, 32);
}
