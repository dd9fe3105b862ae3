import type { Logger } from 'pino';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { Catalogue } from '../../protocol/models.ts';
import type { InfluxStore } from '../../core/influx/index.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import { FeatureSource, type DailySource } from '../features/source.ts';
import { FeatureLayer, type LayerPlan } from '../features/layer.ts';
import { LayerSource } from '../features/layer-source.ts';
import type { Rule } from '../rules.ts';
import type { StateStore } from '../store/state.ts';
import { dayFloor } from '../../core/time.ts';
import { buildTrigger, evaluate, featureSpecs, rangeOf, type Candidate, type DeviceDirectory } from './evaluate.ts';
import { InfluxCohortCache } from './cohort-cache.ts';
import { ListDirectory } from './directory.ts';
import { checkPolicy, heldBackWords, policyOrder, type PolicyOptions, type RunContext, type SuppressionReason } from './policy.ts';

export interface JobDeps {
  rules: Rule[];
  catalogue: Catalogue;
  influx: InfluxStore;
  state: StateStore;
  policy: PolicyOptions;
  pageSize: number;
  /** Pages queried at once; default 1. */
  concurrency?: number;
  /** Where daily features come from: the feature layer (default) or raw readings on every run. */
  features?: 'layer' | 'raw';
  /** Rules the feature layer is built for, when more than `rules` (a run of some rules builds for all). */
  layerRules?: Rule[];
  /** This run's share of the fleet, by owner; default the whole fleet. */
  partition?: { index: number; count: number };
  /** Sinks each new trigger is queued for (webhook, mqtt, influx). */
  sinks: string[];
  /** The sinks of one trigger, when they depend on it (purpose, sensitivity); default: sinks. */
  sinksFor?(t: Trigger): string[];
  log?: Logger;
  onFired?(t: Trigger): void;
  onSuppressed?(ruleId: string, reason: SuppressionReason): void;
}

export interface RunSummary {
  asOf: string;
  rules: string[];
  devices: number;
  evaluations: number;
  queries: number;
  /** Days of the feature layer built by this run, and device-days recomputed for late readings. */
  layer?: { daysBuilt: number; rowsWritten: number };
  partition?: { index: number; count: number; devices: number };
  candidates: number;
  fired: number;
  suppressed: Partial<Record<SuppressionReason, number>>;
  byRule: Record<string, { candidates: number; fired: number; suppressed: number }>;
  durationMs: number;
}

/**
 * One run of the rules at `asOfMs`: each rule looks at the complete days before it. Candidates
 * meet the policy in policyOrder; the ones that pass are stored with their deliveries queued.
 * Two runs over the same window make the same trigger ids, so the second adds nothing.
 */
export async function runJob(deps: JobDeps, directory: DeviceDirectory, asOfMs: number, onProgress?: (p: { kind: string; done: number; total: number }) => void): Promise<RunSummary> {
  const started = Date.now();
  const step = dayFloor(asOfMs);
  const partition = deps.partition && deps.partition.count > 1 ? deps.partition : undefined;
  if (partition && !(directory instanceof ListDirectory)) throw new UsageGatewayError('GW_ERR_CONFIG', 'analytics.partition: this list of devices cannot be split by owner');
  const mine = partition ? (directory as ListDirectory).partition(partition.index, partition.count) : directory;
  let source: DailySource;
  let layer: FeatureLayer | undefined;
  let daysBuilt = 0;
  if (deps.features === 'raw') {
    source = new FeatureSource(deps.influx, deps.catalogue);
  } else {
    layer = new FeatureLayer(deps.influx, deps.catalogue, layerPlan(deps.layerRules ?? deps.rules, deps.catalogue.models.map((m) => m.kind)));
    const { startMs, days } = rangeOf({ rules: deps.rules, steps: [step] });
    daysBuilt = await layer.ensure(startMs, days, directory.count(), onProgress);
    source = new LayerSource(deps.catalogue, layer);
  }
  const summary: RunSummary = {
    asOf: new Date(step).toISOString(), rules: deps.rules.map((r) => r.id), devices: 0, evaluations: 0, queries: 0,
    candidates: 0, fired: 0, suppressed: {}, byRule: {}, durationMs: 0,
  };
  for (const r of deps.rules) summary.byRule[r.id] = { candidates: 0, fired: 0, suppressed: 0 };
  // Pages hold whole households and the policy decides per owner and device, so a page's
  // candidates are arbitrated as soon as it is evaluated: memory holds one page's, not the run's.
  let pending: Candidate[] = [];
  const { devices, evaluations } = await evaluateClosing(source, {
    source, catalogue: deps.catalogue, rules: deps.rules, directory: mine, steps: [step], pageSize: deps.pageSize, concurrency: deps.concurrency,
    ...(partition ? { cohortDirectory: directory, cohortCache: new InfluxCohortCache(deps.influx, step, deps.rules, directory.count()) } : {}),
    onCandidate: (c) => void pending.push(c),
    onPageDone: async () => {
      const page = pending;
      pending = [];
      summary.candidates += page.length;
      for (const { candidate: c, reason, fired } of await applyPolicy(deps, page, asOfMs)) {
        const per = summary.byRule[c.rule.id];
        per.candidates++;
        if (reason) {
          per.suppressed++;
          summary.suppressed[reason] = (summary.suppressed[reason] ?? 0) + 1;
        } else if (fired) {
          per.fired++;
          summary.fired++;
        }
      }
    },
    onProgress,
  });
  summary.devices = devices;
  summary.evaluations = evaluations;
  summary.queries = source.queries;
  if (layer) summary.layer = { daysBuilt, rowsWritten: layer.rowsWritten };
  if (partition) summary.partition = { ...partition, devices: mine.count() };
  summary.durationMs = Date.now() - started;
  deps.log?.info({ summary }, 'analytics run finished');
  return summary;
}

/** `evaluate`, then the source's temporary files removed, whatever happened. */
async function evaluateClosing(source: DailySource, o: Parameters<typeof evaluate>[0]): ReturnType<typeof evaluate> {
  try {
    return await evaluate(o);
  } finally {
    await source.close?.();
  }
}

/** What the feature layer holds for these rules: per kind, the features they read, and the kinds whose rules read error events. */
export function layerPlan(rules: Rule[], catalogueKinds: readonly string[]): LayerPlan {
  const kinds = [...new Set([...rules.flatMap((r) => r.kinds), ...catalogueKinds])];
  const specs = new Map(kinds.map((k) => [k, featureSpecs(rules, k)] as const).filter(([, s]) => s.length > 0));
  return { specs, events: new Set(kinds.filter((k) => rules.some((r) => r.kinds.includes(k) && r.detectorImpl.events))) };
}

/**
 * The policy over one run's candidates at `asOfMs`, in policyOrder: each becomes a trigger
 * (stored, its deliveries queued) or is held back with its reason (a hold kept where the owner
 * report shows one). A fault found in this run protects its device whatever the owner consented
 * to. The scheduled run and the backtest (device by device, day by day) both decide through it.
 */
export async function applyPolicy(
  deps: Pick<JobDeps, 'state' | 'policy' | 'sinks' | 'sinksFor' | 'onFired' | 'onSuppressed'>, candidates: Candidate[], asOfMs: number,
): Promise<Array<{ candidate: Candidate; trigger: Trigger; reason: SuppressionReason | null; fired: boolean }>> {
  const sorted = [...candidates].sort(policyOrder);
  const run: RunContext = { faults: new Set(sorted.filter((c) => c.rule.category === 'service').map((c) => c.device.id)) };
  const out: Array<{ candidate: Candidate; trigger: Trigger; reason: SuppressionReason | null; fired: boolean }> = [];
  for (const c of sorted) {
    const trigger = buildTrigger(c, asOfMs);
    const reason = checkPolicy(c, trigger, deps.state, deps.policy, asOfMs, run);
    if (reason) {
      deps.onSuppressed?.(c.rule.id, reason);
      await recordHold(deps, c, trigger, reason, asOfMs);
      out.push({ candidate: c, trigger, reason, fired: false });
      continue;
    }
    const fired = await deps.state.insert(trigger, deps.sinksFor?.(trigger) ?? deps.sinks, Date.now());
    if (fired) deps.onFired?.(trigger);
    out.push({ candidate: c, trigger, reason: null, fired });
  }
  return out;
}

/**
 * What the owner report shows of a candidate held back, kept as the latest per device and rule:
 * a fault that did not become a service trigger (it holds back offers, never delivered), and a
 * marketing or service contact the policy held back for the owner's sake. A marketing inference
 * about an owner who gave no marketing consent is not kept at all, nor one about a previous owner.
 */
async function recordHold(deps: Pick<JobDeps, 'state' | 'policy'>, c: Candidate, t: Trigger, reason: SuppressionReason, asOfMs: number): Promise<void> {
  if (reason === 'duplicate' || reason === 'owner-change') return;
  const base = { deviceId: t.deviceId, owner: t.owner, ruleId: t.ruleId, category: t.category, summary: t.evidence.summary, window: t.evidence.window, at: new Date(asOfMs).toISOString() };
  if (c.rule.category === 'service') {
    await deps.state.putHold({
      ...base, kind: 'fault', reason,
      detail: reason === 'no-consent'
        ? 'a fault was detected; without service consent it is not passed on, it only holds back offers and retention calls on this device'
        : `a fault was detected again (${heldBackWords(reason, deps.policy)}); it holds back offers and retention calls on this device`,
    });
    return;
  }
  if (reason === 'no-consent') return;
  await deps.state.putHold({ ...base, kind: 'held-back', reason, detail: heldBackWords(reason, deps.policy) });
}
