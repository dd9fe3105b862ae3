import { z } from 'zod';
import { KIND_NAMES } from './kinds/index.ts';
import { deviceIdSchema, ownerSchema } from './ids.ts';
import { TRIGGER_CATEGORIES, type TriggerCategory } from './topics.ts';

/**
 * What an owner agreed to, per purpose: `marketing` (upsell and retention contacts), `service`
 * (service visits), `analytics` (aggregate product insight). No consent, no use for that purpose;
 * none is given by default.
 */
export const CONSENT_PURPOSES = ['marketing', 'service', 'analytics'] as const;
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];

/** Where a consent change came from. */
export const CONSENT_SOURCES = ['cli', 'api', 'import'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

/** At most this many consent changes are kept per device; the oldest go first. */
export const CONSENT_HISTORY_MAX = 500;

/**
 * One consent change of a device: when, the consent from then on, for which owner, from where
 * and by whom (a login name, or the API token's identity). Kept with the device entry, so that
 * erasing the device erases its history; erasing an owner removes that owner's changes.
 */
export const consentChangeSchema = z
  .object({
    at: z.iso.datetime(),
    owner: ownerSchema,
    consent: z.array(z.enum(CONSENT_PURPOSES)),
    source: z.enum(CONSENT_SOURCES),
    actor: z.string().min(1).max(128),
  })
  .strict();
export type ConsentChange = z.infer<typeof consentChangeSchema>;

const identityBase = z.object({
  id: deviceIdSchema,
  /**
   * sha256$digest (base64url) of the gateway-made secret, or scrypt$N$r$p$salt$hash as written
   * before (replaced by the first form at the next login); never the secret itself.
   */
  secretHash: z.string().regex(/^(sha256\$[A-Za-z0-9_-]{43}|scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+)$/, 'is not a secret hash (sha256$… or scrypt$…)'),
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
    /** Every consent change, oldest first (absent in files written before it was kept). */
    consentHistory: z.array(consentChangeSchema).max(CONSENT_HISTORY_MAX).optional(),
  })
  .strict();

/**
 * Marketing and service tools: may subscribe to the trigger topics of their purposes (and,
 * when `categories` is set, only those categories) and to nothing that carries telemetry. A
 * consumer without purposes receives nothing.
 */
export const consumerEntrySchema = identityBase
  .extend({
    role: z.literal('consumer'),
    purposes: z.array(z.enum(CONSENT_PURPOSES)).optional(),
    categories: z.array(z.enum(TRIGGER_CATEGORIES)).optional(),
  })
  .strict();

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

/** The consent purpose a trigger category needs (and a consumer must hold to receive it). */
export const CATEGORY_PURPOSE: Record<TriggerCategory, ConsentPurpose> = { upsell: 'marketing', retention: 'marketing', service: 'service' };

/** Categories whose inferences are sensitive (a usage collapse can mean bereavement or job loss). */
export const SENSITIVE_CATEGORIES: readonly TriggerCategory[] = ['retention'];

/** The trigger categories a consumer may receive: those of its purposes, narrowed by its categories. */
export function consumerCategories(c: Pick<ConsumerEntry, 'purposes' | 'categories'>): TriggerCategory[] {
  return TRIGGER_CATEGORIES.filter((cat) => (c.purposes ?? []).includes(CATEGORY_PURPOSE[cat]) && (!c.categories || c.categories.includes(cat)));
}
