import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UsageGatewayError } from './errors.ts';
import { KINDS } from './kinds/index.ts';

export const SEGMENTS = ['entry', 'mid', 'premium'] as const;

const baseModel = z.object({
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected a model id of letters, digits, ".", "_" or "-"'),
  name: z.string().min(1).max(120),
  segment: z.enum(SEGMENTS),
  /** The model an upsell offers instead; null at the top of a range. */
  successor: z.string().nullable(),
});

/** A catalogue entry: the base fields plus those of its kind (capacity_kg, volume_l, …). */
export const modelSchema = z.discriminatedUnion(
  'kind',
  KINDS.map((k) => baseModel.extend({ kind: z.literal(k.kind), ...k.modelFields.shape }).strict()) as unknown as [
    z.ZodObject<{ kind: z.ZodLiteral<string> }>,
    ...z.ZodObject<{ kind: z.ZodLiteral<string> }>[],
  ],
);

export type Model = z.infer<typeof baseModel> & { kind: string; [key: string]: unknown };

export const catalogueSchema = z
  .object({ models: z.array(modelSchema).min(1) })
  .strict()
  .superRefine((cat, ctx) => {
    const models = cat.models as Model[];
    const byId = new Map<string, Model>();
    models.forEach((m, i) => {
      if (byId.has(m.id)) ctx.addIssue({ code: 'custom', path: ['models', i, 'id'], message: `duplicate model id "${m.id}"` });
      byId.set(m.id, m);
    });
    models.forEach((m, i) => {
      if (m.successor === null) return;
      const next = byId.get(m.successor);
      if (!next) ctx.addIssue({ code: 'custom', path: ['models', i, 'successor'], message: `successor "${m.successor}" is not in the catalogue` });
      else if (next.kind !== m.kind) ctx.addIssue({ code: 'custom', path: ['models', i, 'successor'], message: `successor "${m.successor}" is a ${next.kind}, not a ${m.kind}` });
    });
  });

export interface Catalogue {
  models: readonly Model[];
  get(id: string): Model | undefined;
  ofKind(kind: string): Model[];
}

export function makeCatalogue(models: readonly Model[]): Catalogue {
  const byId = new Map(models.map((m) => [m.id, m]));
  return {
    models,
    get: (id) => byId.get(id),
    ofKind: (kind) => models.filter((m) => m.kind === kind),
  };
}

/** Reads and validates a YAML or JSON catalogue; every problem is reported at once. */
export function loadCatalogue(path: string): Catalogue {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_CATALOGUE', `cannot read model catalogue ${path}: ${(err as Error).message}`);
  }
  const parsed = catalogueSchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new UsageGatewayError('GW_ERR_CATALOGUE', `model catalogue ${path} is invalid:\n${lines.join('\n')}`);
  }
  return makeCatalogue(Object.freeze(parsed.data.models as Model[]));
}
