import { z } from 'zod';
import { CONSENT_PURPOSES, consentChangeSchema } from './registry.ts';
import { DEVICE_ID_RE, TRIGGER_CATEGORIES } from './topics.ts';
import { evidenceSchema, offerSchema, TRIGGER_OUTCOMES, TRIGGER_STATUSES } from './trigger.ts';

/**
 * The owner report (`usage-gateway owners report <owner> --json`, `GET /api/owners/{id}/report`):
 * what is held about one owner, what was inferred and why, what the policy held back, and the
 * consent history. Readable by a program through this schema; the text form says the same in
 * words. docs/http-api.md describes each field.
 */

const iso = z.iso.datetime();

export const ownerReportSchema = z
  .object({
    version: z.literal(1),
    owner: z.string().min(1).max(128),
    generatedAt: iso,
    devices: z.array(z
      .object({
        id: z.string().regex(DEVICE_ID_RE),
        kind: z.string(),
        model: z.string(),
        modelName: z.string().optional(),
        registeredAt: iso,
        ownerSince: iso,
        consent: z.array(z.enum(CONSENT_PURPOSES)),
        /** Readings kept in InfluxDB since the owner has the device, per measurement. */
        data: z.array(z.object({ measurement: z.string(), points: z.number().int().min(0), from: iso.optional(), to: iso.optional() }).strict()),
        /** Hourly and daily summaries computed from those readings, per roll-up measurement. */
        rollups: z.record(z.string(), z.number().int().min(0)),
        /** The data could not be counted (InfluxDB unreachable): why. */
        dataError: z.string().optional(),
      })
      .strict()),
    triggers: z.array(z
      .object({
        id: z.string(),
        deviceId: z.string(),
        ruleId: z.string(),
        category: z.enum(TRIGGER_CATEGORIES),
        purpose: z.enum(CONSENT_PURPOSES),
        /** What the rule is about, in words. */
        rule: z.string(),
        offer: offerSchema,
        createdAt: iso,
        /** What was seen, in plain words, with the figures against the thresholds. */
        explanation: z.string(),
        evidence: evidenceSchema,
        /** A sensitive inference (retention): handled by people, not sent to automated channels unless configured. */
        sensitive: z.boolean(),
        status: z.enum(TRIGGER_STATUSES),
        feedback: z.array(z.object({ outcome: z.enum(TRIGGER_OUTCOMES), at: iso }).strict()),
        /** Where it went: sink → delivered, pending, dead (failed), dropped (its grounds were gone). */
        delivery: z.record(z.string(), z.object({ state: z.enum(['pending', 'delivered', 'dead', 'dropped']), reason: z.string().optional() }).strict()),
      })
      .strict()),
    held: z.array(z
      .object({
        kind: z.enum(['fault', 'held-back']),
        deviceId: z.string(),
        ruleId: z.string(),
        category: z.enum(TRIGGER_CATEGORIES),
        reason: z.string().optional(),
        /** Why it was held, in words. */
        detail: z.string(),
        /** What was seen. */
        summary: z.string(),
        window: z.object({ from: iso, to: iso }).strict(),
        at: iso,
      })
      .strict()),
    consentHistory: z.array(consentChangeSchema.omit({ owner: true }).extend({ deviceId: z.string() }).strict()),
    /** What the report does not show, and why. */
    notes: z.array(z.string()),
  })
  .strict();

export type OwnerReport = z.infer<typeof ownerReportSchema>;
