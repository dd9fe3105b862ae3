import type { Catalogue } from '../../protocol/models.ts';
import { triggerId, triggerSchema, type Trigger } from '../../protocol/trigger.ts';
import { DAY_MS, type CohortStats, type Detection, type DeviceInfo, type FeatureSpec } from '../detectors/index.ts';
import { PERCENTILES, type FeatureSource } from '../features/source.ts';
import type { Rule } from '../rules.ts';

/** Where the devices come from: the registry (live runs) or a simulator manifest (backtest). */
export interface DeviceDirectory {
  /** Pages of devices of one kind; each page is queried and evaluated, then dropped. */
  pages(kind: string, pageSize: number): Iterable<DeviceInfo[]> | AsyncIterable<DeviceInfo[]>;
  count(kind: string): number;
}

/** A rule that fired on a device for one window, before policy. */
export interface Candidate {
  rule: Rule;
  device: DeviceInfo;
  windowFrom: number;
  windowTo: number;
  detection: Detection;
}

export interface EvaluateOptions {
  source: FeatureSource;
  catalogue: Catalogue;
  rules: Rule[];
  directory: DeviceDirectory;
  /** Evaluation times (UTC midnights, ms): each rule looks at the days before each one. */
  steps: number[];
  pageSize: number;
  /** Skip a rule at a step whose window would start before this (no data there: backtests). */
  dataFromMs?: number;
  onCandidate(c: Candidate): void | Promise<void>;
  onProgress?(p: { kind: string; done: number; total: number }): void;
}

export const dayFloor = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/**
 * Runs the rules over every device, page by page: daily features are fetched once per page for
 * the whole range the steps need, then each rule is evaluated at each step by slicing them.
 */
export async function evaluate(o: EvaluateOptions): Promise<{ devices: number; evaluations: number }> {
  let devices = 0;
  let evaluations = 0;
  const kinds = [...new Set(o.rules.flatMap((r) => r.kinds))];
  const lastStep = Math.max(...o.steps);
  for (const kind of kinds) {
    const rules = o.rules.filter((r) => r.kinds.includes(kind));
    const maxWindow = Math.max(...rules.map((r) => r.windowDays));
    const startMs = Math.max(Math.min(...o.steps) - maxWindow * DAY_MS, o.dataFromMs !== undefined ? dayFloor(o.dataFromMs) : -Infinity);
    const days = Math.round((lastStep - startMs) / DAY_MS);
    const specs = new Map<string, FeatureSpec>();
    for (const r of rules) for (const s of r.detectorImpl.features(r.params, kind)) specs.set(s.name, s);
    const withEvents = rules.some((r) => r.detectorImpl.events);
    const cohorts = await cohortStats(o, kind, rules, specs, startMs, days);
    const total = o.directory.count(kind);
    let done = 0;
    for await (const page of o.directory.pages(kind, o.pageSize)) {
      const series = await o.source.page(page, [...specs.values()], withEvents, startMs, days);
      for (const device of page) {
        const s = series.get(device.id)!;
        const model = o.catalogue.get(device.model);
        const successor = model?.successor ? o.catalogue.get(model.successor) : undefined;
        for (const rule of rules) {
          for (const step of o.steps) {
            if (o.dataFromMs !== undefined && step - rule.windowDays * DAY_MS < o.dataFromMs) continue;
            const to = Math.round((step - startMs) / DAY_MS);
            const from = to - rule.windowDays;
            const cohort = new Map<string, CohortStats>();
            for (const name of rule.detectorImpl.cohortFeatures?.(rule.params, kind) ?? []) {
              const c = cohorts.get(`${name}|${step - rule.windowDays * DAY_MS}|${step}`)?.get(device.model);
              if (c) cohort.set(name, c);
            }
            evaluations++;
            const detection = rule.detectorImpl.detect({ device, model, successor, series: s, from, to, params: rule.params, cohort });
            if (detection) await o.onCandidate({ rule, device, windowFrom: step - rule.windowDays * DAY_MS, windowTo: step, detection });
          }
        }
      }
      devices += page.length;
      done += page.length;
      o.onProgress?.({ kind, done, total });
    }
  }
  return { devices, evaluations };
}

/** Nearest-rank percentile of sorted values (as InfluxQL's percentile()). */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Model cohorts of the fleet-relative rules, in a first pass over the pages: each device's value
 * of the feature over each step's window (a total for count and sum, else the mean of its days),
 * gathered per model and step, then percentiles. Memory: one number per device and step.
 */
async function cohortStats(o: EvaluateOptions, kind: string, rules: Rule[], specs: Map<string, FeatureSpec>, startMs: number, days: number): Promise<Map<string, Map<string, CohortStats>>> {
  const wanted = rules.flatMap((r) => (r.detectorImpl.cohortFeatures?.(r.params, kind) ?? []).map((name) => ({ name, windowDays: r.windowDays })));
  const out = new Map<string, Map<string, CohortStats>>();
  if (wanted.length === 0) return out;
  const cohortSpecs = [...new Set(wanted.map((w) => w.name))].map((n) => specs.get(n)!);
  const values = new Map<string, Map<string, number[]>>(); // key → model → values
  for await (const page of o.directory.pages(kind, o.pageSize)) {
    const series = await o.source.page(page, cohortSpecs, false, startMs, days);
    for (const device of page) {
      const s = series.get(device.id)!;
      for (const w of wanted) {
        const daily = s.daily.get(w.name)!;
        const total = /^(count|sum)\(/.test(specs.get(w.name)!.select);
        for (const step of o.steps) {
          const to = Math.round((step - startMs) / DAY_MS);
          const from = to - w.windowDays;
          if (from < 0) continue;
          let acc = 0;
          let n = 0;
          for (let i = from; i < to; i++) if (!Number.isNaN(daily[i])) {
            acc += daily[i];
            n++;
          }
          if (n === 0) continue; // no data in the window: not part of the cohort
          const key = `${w.name}|${step - w.windowDays * DAY_MS}|${step}`;
          const byModel = values.get(key) ?? new Map<string, number[]>();
          values.set(key, byModel);
          const list = byModel.get(device.model) ?? [];
          byModel.set(device.model, list);
          list.push(total ? acc : acc / n);
        }
      }
    }
  }
  for (const [key, byModel] of values) {
    const stats = new Map<string, CohortStats>();
    for (const [model, list] of byModel) {
      list.sort((a, b) => a - b);
      stats.set(model, { model, devices: list.length, percentiles: Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, percentile(list, p)])) });
    }
    out.set(key, stats);
  }
  return out;
}

const finite = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).filter(([, v]) => Number.isFinite(v)));
const iso = (ms: number) => new Date(ms).toISOString();

/** The trigger of a candidate: stable id, the rule's offer completed by the detection, evidence. */
export function buildTrigger(c: Candidate, createdAtMs: number): Trigger {
  const { rule, device, detection: d } = c;
  const from = iso(c.windowFrom);
  const to = iso(c.windowTo);
  const trigger: Trigger = {
    id: triggerId(rule.id, rule.version, device.id, from, to),
    ruleId: rule.id,
    ruleVersion: rule.version,
    category: rule.category,
    purpose: rule.purpose,
    deviceId: device.id,
    kind: device.kind,
    model: device.model,
    owner: device.owner,
    offer: { ...rule.offer, ...Object.fromEntries(Object.entries(d.offer ?? {}).filter(([, v]) => v !== undefined)) },
    evidence: {
      summary: d.summary,
      window: { from, to },
      figures: finite(d.figures),
      thresholds: finite(d.thresholds),
      ...(d.series ? {
        series: {
          label: d.series.label,
          ...(d.series.unit ? { unit: d.series.unit } : {}),
          points: d.series.values.map((v, i) => [iso(c.windowFrom + i * DAY_MS), Number.isFinite(v) ? v : null] as [string, number | null]),
          ...(d.series.threshold !== undefined && Number.isFinite(d.series.threshold) ? { threshold: d.series.threshold } : {}),
        },
      } : {}),
      ...(d.cohort ? { cohort: { ...d.cohort, percentiles: finite(d.cohort.percentiles) } } : {}),
    },
    createdAt: iso(createdAtMs),
  };
  // The contract is checked here, where a trigger is made, not by each consumer.
  return triggerSchema.parse(trigger);
}
