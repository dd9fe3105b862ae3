import type { Logger } from 'pino';
import type { Catalogue } from '../../protocol/models.ts';
import type { InfluxStore } from '../../core/influx/index.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import { FeatureSource } from '../features/source.ts';
import type { Rule } from '../rules.ts';
import type { StateStore } from '../store/state.ts';
import { buildTrigger, dayFloor, evaluate, type Candidate, type DeviceDirectory } from './evaluate.ts';
import { checkPolicy, policyOrder, type PolicyOptions, type SuppressionReason } from './policy.ts';

export interface JobDeps {
  rules: Rule[];
  catalogue: Catalogue;
  influx: InfluxStore;
  state: StateStore;
  policy: PolicyOptions;
  pageSize: number;
  /** Sinks each new trigger is queued for (webhook, mqtt, influx). */
  sinks: string[];
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
  const source = new FeatureSource(deps.influx, deps.catalogue);
  // Candidates are the devices where a rule fired: a small share of the fleet, kept until the
  // policy can arbitrate across rules and kinds.
  const candidates: Candidate[] = [];
  const { devices, evaluations } = await evaluate({
    source, catalogue: deps.catalogue, rules: deps.rules, directory, steps: [step], pageSize: deps.pageSize,
    onCandidate: (c) => void candidates.push(c), onProgress,
  });
  candidates.sort(policyOrder);
  const summary: RunSummary = {
    asOf: new Date(step).toISOString(), rules: deps.rules.map((r) => r.id), devices, evaluations, queries: source.queries,
    candidates: candidates.length, fired: 0, suppressed: {}, byRule: {}, durationMs: 0,
  };
  for (const r of deps.rules) summary.byRule[r.id] = { candidates: 0, fired: 0, suppressed: 0 };
  for (const c of candidates) {
    const per = summary.byRule[c.rule.id];
    per.candidates++;
    const trigger = buildTrigger(c, asOfMs);
    const reason = checkPolicy(c, trigger, deps.state, deps.policy, asOfMs);
    if (reason) {
      per.suppressed++;
      summary.suppressed[reason] = (summary.suppressed[reason] ?? 0) + 1;
      deps.onSuppressed?.(c.rule.id, reason);
      continue;
    }
    if (await deps.state.insert(trigger, deps.sinks, Date.now())) {
      per.fired++;
      summary.fired++;
      deps.onFired?.(trigger);
    }
  }
  summary.durationMs = Date.now() - started;
  deps.log?.info({ summary }, 'analytics run finished');
  return summary;
}
