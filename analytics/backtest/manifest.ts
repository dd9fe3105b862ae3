import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { MAX_EPOCH_MS, parseDateOrTime } from '../../protocol/time.ts';
import type { DeviceInfo } from '../detectors/index.ts';

/**
 * One fact of the ground truth about a device over a span (ISO times; `to` null: still so):
 * `persona` (a planted pattern, with `persona`), `absent` (its household away), `replaced`,
 * `replacement`, `resold`, `stuck` and `missing` (sensor spells), `season` (the weather moving
 * its figures, `detail` says how). A persona span whose `detail` begins with `borderline` is
 * neither clearly there nor clearly not: a backtest neither counts it as a miss nor a trigger on
 * it as false.
 */
export interface TruthSpan {
  what: string;
  from: string;
  to: string | null;
  persona?: string;
  detail?: string;
}

/** One device of a simulated fleet, as the simulator's ground-truth manifest tells it. */
export interface ManifestDevice extends DeviceInfo {
  persona: string;
  /** When the planted pattern begins (ISO), if the persona has one. */
  patternStart?: string;
  /** What is true of the device, day by day (a manifest without it: its persona from patternStart on). */
  truth: TruthSpan[];
  /** Ordinary devices close to a rule's concern (`near-threshold`), replacements. */
  traits: string[];
  /** Its owners before the current one (a resale), oldest first. */
  previousOwners: Array<{ owner: string; until: string }>;
}

/** A date, an RFC 3339 time or epoch milliseconds; an impossible one (2026-02-30) is refused, not rolled over. */
const when = z.union([z.string(), z.number().int().min(0).max(MAX_EPOCH_MS)]).transform((v, ctx) => {
  const t = typeof v === 'number' ? { ok: true as const, ms: v } : parseDateOrTime(v);
  if (t.ok) return new Date(t.ms).toISOString();
  ctx.issues.push({ code: 'custom', message: t.reason, input: v });
  return z.NEVER;
});

// The simulator's field names, with the spellings a hand-written manifest may use.
const entry = z
  .object({
    id: z.string().optional(),
    deviceId: z.string().optional(),
    kind: z.string(),
    model: z.string(),
    owner: z.string().optional(),
    persona: z.string(),
    patternStart: when.nullable().optional(),
    patternStartMs: z.number().int().min(0).max(MAX_EPOCH_MS).nullable().optional(),
    consent: z.array(z.string()).optional(),
    ownerSince: when.optional(),
    traits: z.array(z.string()).optional(),
    previousOwners: z.array(z.object({ owner: z.string(), until: when }).loose()).optional(),
    truth: z.array(z.object({ what: z.string(), from: when, to: when.nullable(), persona: z.string().optional(), detail: z.string().optional() }).loose()).optional(),
  })
  .loose()
  .refine((e) => e.id ?? e.deviceId, 'a device needs "id" or "deviceId"');

// An array, or an object with `devices`; chosen by shape, so that a refusal names the entry and field.
const manifestArray = z.array(entry);
const manifestObject = z.object({ devices: z.array(entry) }).loose().transform((m) => m.devices);

/** Reads a manifest: JSON (an array, or an object with `devices`) or JSON lines. */
export function loadManifest(path: string): ManifestDevice[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_MANIFEST', `cannot read manifest ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    try {
      doc = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_MANIFEST', `manifest ${path} is neither JSON nor JSON lines: ${(err as Error).message}`);
    }
  }
  return parseManifest(doc, path);
}

export function parseManifest(doc: unknown, source = 'manifest'): ManifestDevice[] {
  const parsed = (Array.isArray(doc) ? manifestArray : manifestObject).safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.slice(0, 20).map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new UsageGatewayError('GW_ERR_MANIFEST', `${source} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data.map((e) => {
    const id = (e.id ?? e.deviceId)!;
    const start = e.patternStart ?? (e.patternStartMs != null ? new Date(e.patternStartMs).toISOString() : undefined);
    const truth: TruthSpan[] = e.truth?.map((t) => ({ what: t.what, from: t.from, to: t.to, ...(t.persona ? { persona: t.persona } : {}), ...(t.detail ? { detail: t.detail } : {}) }))
      ?? (e.persona === 'normal' ? [] : [{ what: 'persona', persona: e.persona, from: start ?? new Date(0).toISOString(), to: null }]);
    return {
      id, kind: e.kind, model: e.model, owner: e.owner ?? `owner-${id}`, persona: e.persona, ...(start ? { patternStart: start } : {}),
      consent: e.consent ?? ['marketing', 'service'], ...(e.ownerSince ? { ownerSince: e.ownerSince } : {}),
      truth, traits: e.traits ?? [], previousOwners: e.previousOwners?.map((p) => ({ owner: p.owner, until: p.until })) ?? [],
    };
  });
}
