import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cron } from 'croner';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UsageGatewayError } from '../protocol/errors.ts';
import { KIND_NAMES } from '../protocol/kinds/index.ts';
import { CONSENT_PURPOSES } from '../protocol/registry.ts';
import { TRIGGER_CATEGORIES } from '../protocol/topics.ts';
import { offerSchema, RULE_ID_RE } from '../protocol/trigger.ts';
import { DETECTORS, type Detector } from './detectors/index.ts';

/** The catalogue shipped with the project, used when analytics.rulesPath is not set. */
export const DEFAULT_RULES_PATH = fileURLToPath(new URL('../config/rules.yaml', import.meta.url));

const ruleEntry = z
  .object({
    id: z.string().regex(RULE_ID_RE, 'expected lower-case letters, digits and "-"'),
    version: z.number().int().min(1),
    enabled: z.boolean().default(true),
    description: z.string().min(1),
    category: z.enum(TRIGGER_CATEGORIES),
    purpose: z.enum(CONSENT_PURPOSES),
    kinds: z.array(z.enum(KIND_NAMES as [string, ...string[]])).min(1),
    detector: z.string(),
    params: z.record(z.string(), z.unknown()).default({}),
    cooldownDays: z.number().int().min(0).max(3_650),
    /** Higher wins when several marketing rules want the same owner in one run. */
    priority: z.number().int().min(0).max(1_000).default(0),
    /** A schedule of its own (cron); default: analytics.schedule. */
    schedule: z.string().optional(),
    offer: offerSchema,
    /** Simulator personas this rule is meant to find (backtest precision and recall). */
    personas: z.array(z.string().min(1)).default([]),
  })
  .strict();

const catalogue = z.object({ rules: z.array(ruleEntry).min(1) }).strict();

export interface Rule extends Omit<z.infer<typeof ruleEntry>, 'params'> {
  params: unknown;
  detectorImpl: Detector<unknown>;
  /** Days of data the rule looks at, ending at the evaluation time. */
  windowDays: number;
}

const EXPECTED_PURPOSE = { upsell: 'marketing', retention: 'marketing', service: 'service' } as const;

/**
 * Reads and validates the rule catalogue: the entries, each rule's parameters against its
 * detector, kinds, purposes and schedules. Every problem is reported at once.
 */
export function loadRules(path = DEFAULT_RULES_PATH): Rule[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_RULES', `cannot read rule catalogue ${path}: ${(err as Error).message}`);
  }
  return parseRules(doc, path);
}

export function parseRules(doc: unknown, source = 'rule catalogue'): Rule[] {
  const problems: string[] = [];
  const parsed = catalogue.safeParse(doc);
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw rulesError(source, problems);
  }
  const out: Rule[] = [];
  const seen = new Set<string>();
  parsed.data.rules.forEach((r, i) => {
    const at = `rules.${i} (${r.id})`;
    if (seen.has(r.id)) problems.push(`${at}: duplicate rule id "${r.id}"`);
    seen.add(r.id);
    if (r.purpose !== EXPECTED_PURPOSE[r.category]) problems.push(`${at}.purpose: a ${r.category} rule needs "${EXPECTED_PURPOSE[r.category]}" consent, not "${r.purpose}"`);
    if (r.schedule) {
      try {
        new Cron(r.schedule, { paused: true }).stop();
      } catch (err) {
        problems.push(`${at}.schedule: ${(err as Error).message}`);
      }
    }
    const det = DETECTORS.get(r.detector);
    if (!det) {
      problems.push(`${at}.detector: unknown detector "${r.detector}"; known: ${[...DETECTORS.keys()].join(', ')}`);
      return;
    }
    for (const k of r.kinds) if (!det.kinds.includes(k)) problems.push(`${at}.kinds: detector ${det.id} does not understand ${k} devices (only ${det.kinds.join(', ')})`);
    const params = det.params.safeParse(r.params);
    if (!params.success) {
      for (const pi of params.error.issues) problems.push(`${at}.params${pi.path.length ? `.${pi.path.join('.')}` : ''}: ${pi.message}`);
      return;
    }
    out.push({ ...r, params: params.data, detectorImpl: det, windowDays: det.windowDays(params.data) });
  });
  // usage-collapse looks at devices quiet for less than silentDays, device-silent from there on:
  // every quiet length is one rule's, and only one's, when the two hand over at the same day.
  const collapse = out.filter((r) => r.detector === 'usage-collapse');
  const silent = out.filter((r) => r.detector === 'device-silent');
  for (const c of collapse) {
    for (const s of silent) {
      for (const kind of c.kinds.filter((k) => s.kinds.includes(k))) {
        const a = (c.params as { silentDays: Record<string, number> }).silentDays[kind];
        const b = (s.params as { silentDays: Record<string, number> }).silentDays[kind];
        if (a !== b) problems.push(`rules ${c.id} and ${s.id}: silentDays.${kind} must be the same (${a} and ${b}), or quiet spells between them are nobody's (or both rules')`);
      }
    }
  }
  if (problems.length > 0) throw rulesError(source, problems);
  return out;
}

function rulesError(source: string, problems: string[]): UsageGatewayError {
  return new UsageGatewayError('GW_ERR_RULES', `${source} is invalid, ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
}
