import { z } from 'zod';
import { KIND_NAMES } from './kinds/index.ts';
import { deviceIdSchema, ownerSchema } from './ids.ts';

/** What an owner agreed to be contacted for. No consent, no trigger of that purpose. */
export const CONSENT_PURPOSES = ['marketing', 'service'] as const;
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];

const identityBase = z.object({
  id: deviceIdSchema,
  /** scrypt$N$r$p$salt$hash (base64url); never the secret itself. */
  secretHash: z.string().startsWith('scrypt$'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const deviceEntrySchema = identityBase
  .extend({
    role: z.literal('device'),
    kind: z.enum(KIND_NAMES as [string, ...string[]]),
    model: z.string().min(1),
    /** Pseudonymous customer id; never a name or an address. */
    owner: ownerSchema,
    /** When the current owner took the device over (resale resets it). */
    ownerSince: z.iso.datetime(),
    consent: z.array(z.enum(CONSENT_PURPOSES)),
  })
  .strict();

/** Marketing and service tools: may subscribe to triggers/# and nothing that carries telemetry. */
export const consumerEntrySchema = identityBase.extend({ role: z.literal('consumer') }).strict();

/** The analytics service: may publish under triggers/ (and subscribe there), nothing else. */
export const analyticsEntrySchema = identityBase.extend({ role: z.literal('analytics') }).strict();

export const registryEntrySchema = z.discriminatedUnion('role', [deviceEntrySchema, consumerEntrySchema, analyticsEntrySchema]);

/** Two entries with one id would leave it to chance which of them the gateway uses. */
function uniqueIds(file: { entries: Array<{ id: string }> }, ctx: z.RefinementCtx): void {
  const first = new Map<string, number>();
  file.entries.forEach((e, i) => {
    const at = first.get(e.id);
    if (at === undefined) first.set(e.id, i);
    else ctx.addIssue({ code: 'custom', path: ['entries', i, 'id'], message: `id "${e.id}" is already used by entries[${at}]` });
  });
}

/**
 * The registry file. Every read checks it against this schema, and every change is checked
 * against it before the file is replaced.
 */
export const registryFileSchema = z
  .object({
    version: z.literal(1),
    entries: z.array(registryEntrySchema),
  })
  .strict()
  .superRefine(uniqueIds);

/**
 * The frame of a registry file, whatever its entries hold: what a command needs to repair an
 * entry that the full schema refuses (and what it cannot repair when even this fails).
 */
export const registryFrameSchema = z
  .object({
    version: z.literal(1),
    entries: z.array(z.looseObject({ id: z.string() })),
  })
  .strict()
  .superRefine(uniqueIds);

export type DeviceEntry = z.infer<typeof deviceEntrySchema>;
export type ConsumerEntry = z.infer<typeof consumerEntrySchema>;
export type AnalyticsEntry = z.infer<typeof analyticsEntrySchema>;
export type RegistryEntry = z.infer<typeof registryEntrySchema>;
export type RegistryFile = z.infer<typeof registryFileSchema>;
