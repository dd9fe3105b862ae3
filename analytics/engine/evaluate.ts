import type { Catalogue } from '../../protocol/models.ts';
import { triggerId, triggerSchema, type Trigger } from '../../protocol/trigger.ts';
import { DAY_MS, type CohortStats, type Detection, type DeviceInfo, type DeviceSeries, type FeatureSpec, type HouseholdMember } from '../detectors/index.ts';
import { PERCENTILES, type DailySource } from '../features/source.ts';
import type { Rule } from '../rules.ts';
import { dayFloor } from '../../core/time.ts';

/** Where the devices come from: the registry (live runs) or a simulator manifest (backtest). */
export interface DeviceDirectory {
  /**
   * Pages of devices, each holding whole households (every device of an owner in the same
   * page); each page is queried and evaluated, then dropped.
   */
  pages(pageSize: number): Iterable<DeviceInfo[]> | AsyncIterable<DeviceInfo[]>;
  count(): number;
}

/** Model cohorts of a run kept for the other partitions of the fleet. */
export interface CohortCache {
  get(): Promise<Map<string, Map<string, CohortStats>> | undefined>;
  put(cohorts: Map<string, Map<string, CohortStats>>): Promise<void>;
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
  source: DailySource;
  catalogue: Catalogue;
  rules: Rule[];
  directory: DeviceDirectory;
  /** Evaluation times (UTC midnights, ms): each rule looks at the days before each one. */
  steps: number[];
  pageSize: number;
  /** Pages fetched at once (each one query or a few); default 1. Memory: this many pages. */
  concurrency?: number;
  /**
   * The devices the model cohorts are computed over, when not `directory`: a partition of the
   * fleet evaluates its own devices against the cohorts of the whole fleet.
   */
  cohortDirectory?: DeviceDirectory;
  /** Cohorts computed before for the same steps and rules (another partition's), and where to put them. */
  cohortCache?: CohortCache;
  /** Skip a rule at a step whose window would start before this (no data there: backtests). */
  dataFromMs?: number;
  onCandidate(c: Candidate): void | Promise<void>;
  /** After a page's devices were evaluated (every candidate of theirs has been given). */
  onPageDone?(page: DeviceInfo[]): void | Promise<void>;
  /** After each page: `stage` is `cohorts` (the first pass, for fleet-relative rules) or `rules`. */
  onProgress?(p: { kind: string; done: number; total: number }): void;
}

/** The features a kind's devices must have fetched: their rules' own, and what household-aware rules read of them. */
export function featureSpecs(rules: Rule[], kind: string): FeatureSpec[] {
  const specs = new Map<string, FeatureSpec>();
  for (const r of rules) {
    if (r.kinds.includes(kind)) for (const s of r.detectorImpl.features(r.params, kind)) specs.set(s.name, s);
    for (const s of r.detectorImpl.householdFeatures?.(kind) ?? []) specs.set(s.name, s);
  }
  return [...specs.values()];
}

/** Days of data the evaluation reads before its first step (the longest window of the rules). */
export function rangeOf(o: Pick<EvaluateOptions, 'rules' | 'steps' | 'dataFromMs'>): { startMs: number; days: number } {
  const maxWindow = Math.max(...o.rules.map((r) => r.windowDays));
  const startMs = Math.max(Math.min(...o.steps) - maxWindow * DAY_MS, o.dataFromMs !== undefined ? dayFloor(o.dataFromMs) : -Infinity);
  return { startMs, days: Math.round((Math.max(...o.steps) - startMs) / DAY_MS) };
}

/** The daily series of a page of devices of any kinds: one fetch per kind present. */
async function fetchPage(o: EvaluateOptions, page: DeviceInfo[], specsOf: (kind: string) => FeatureSpec[], withEvents: (kind: string) => boolean, startMs: number, days: number, hint?: { again?: boolean }): Promise<Map<string, DeviceSeries>> {
  const byKind = new Map<string, DeviceInfo[]>();
  for (const d of page) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
  const out = new Map<string, DeviceSeries>();
  for (const [kind, devices] of byKind) {
    const specs = specsOf(kind);
    const ev = withEvents(kind);
    if (specs.length === 0 && !ev) continue;
    for (const [id, s] of await o.source.page(devices, specs, ev, startMs, days, hint)) out.set(id, s);
  }
  return out;
}

/**
 * The pages of a directory with their series, in order, with up to `concurrency` fetches in
 * flight: the next pages are being queried while one is evaluated.
 */
async function* fetched<T>(pages: Iterable<DeviceInfo[]> | AsyncIterable<DeviceInfo[]>, concurrency: number, fetch: (page: DeviceInfo[]) => Promise<T>): AsyncGenerator<[DeviceInfo[], T]> {
  const ahead: Array<Promise<[DeviceInfo[], T]>> = [];
  for await (const page of pages) {
    const p = fetch(page).then((r): [DeviceInfo[], T] => [page, r]);
    p.catch(() => undefined); // awaited below, in order; not an unhandled rejection meanwhile
    ahead.push(p);
    if (ahead.length >= Math.max(1, concurrency)) yield await ahead.shift()!;
  }
  while (ahead.length > 0) yield await ahead.shift()!;
}

/**
 * Runs the rules over every device, page by page (whole households per page): daily features
 * are fetched once per page for the whole range the steps need, then each rule is evaluated
 * at each step by slicing them, with the owner's other devices at hand.
 */
export async function evaluate(o: EvaluateOptions): Promise<{ devices: number; evaluations: number }> {
  let devices = 0;
  let evaluations = 0;
  const { startMs, days } = rangeOf(o);
  const specCache = new Map<string, FeatureSpec[]>();
  const specsOf = (kind: string) => specCache.get(kind) ?? specCache.set(kind, featureSpecs(o.rules, kind)).get(kind)!;
  const withEvents = (kind: string) => o.rules.some((r) => r.kinds.includes(kind) && r.detectorImpl.events);
  let cohorts = await o.cohortCache?.get();
  if (!cohorts) {
    cohorts = await cohortStats(o, startMs, days);
    await o.cohortCache?.put(cohorts);
  }
  const total = o.directory.count();
  for await (const [page, series] of fetched(o.directory.pages(o.pageSize), o.concurrency ?? 1, (p) => fetchPage(o, p, specsOf, withEvents, startMs, days))) {
    const households = new Map<string, DeviceInfo[]>();
    for (const d of page) households.set(d.owner, [...(households.get(d.owner) ?? []), d]);
    for (const device of page) {
      const rules = o.rules.filter((r) => r.kinds.includes(device.kind));
      const s = series.get(device.id);
      if (rules.length === 0 || !s) continue;
      const model = o.catalogue.get(device.model);
      const successor = model?.successor ? o.catalogue.get(model.successor) : undefined;
      const household: HouseholdMember[] = households.get(device.owner)!.filter((d) => d !== device && series.has(d.id)).map((d) => ({ device: d, series: series.get(d.id)! }));
      for (const rule of rules) {
        for (const step of o.steps) {
          if (o.dataFromMs !== undefined && step - rule.windowDays * DAY_MS < o.dataFromMs) continue;
          const to = Math.round((step - startMs) / DAY_MS);
          const from = to - rule.windowDays;
          const cohort = new Map<string, CohortStats>();
          for (const name of rule.detectorImpl.cohortFeatures?.(rule.params, device.kind) ?? []) {
            const c = cohorts.get(cohortKey(name, step - rule.windowDays * DAY_MS, step))?.get(device.model);
            if (c) cohort.set(name, c);
          }
          evaluations++;
          const detection = rule.detectorImpl.detect({ device, model, successor, series: s, from, to, params: rule.params, cohort, household });
          if (detection) await o.onCandidate({ rule, device, windowFrom: step - rule.windowDays * DAY_MS, windowTo: step, detection });
        }
      }
    }
    await o.onPageDone?.(page);
    devices += page.length;
    o.onProgress?.({ kind: 'rules', done: devices, total });
  }
  return { devices, evaluations };
}

/** Nearest-rank percentile of sorted values (as InfluxQL's percentile()). */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Names one cohort: a cohort feature over the window from `fromMs` to `toMs`. */
const cohortKey = (name: string, fromMs: number, toMs: number) => `${name}|${fromMs}|${toMs}`;

/** `slope(car.soh)` → { stat: 'slope', feature: 'car.soh' }; `car.soh` → the total or mean. */
function cohortEntry(name: string): { stat: 'value' | 'slope'; feature: string } {
  const m = /^slope\((.+)\)$/.exec(name);
  return m ? { stat: 'slope', feature: m[1] } : { stat: 'value', feature: name };
}

/**
 * Model cohorts of the fleet-relative rules, in a first pass over the pages: each device's value
 * of the feature over each step's window (a total for count and sum, else the mean of its days;
 * or, for `slope(…)`, its least-squares slope per day over the days with data, when it has data
 * on a third of them), gathered per model and step, then percentiles. Memory: one number per
 * device, cohort feature and step.
 */
async function cohortStats(o: EvaluateOptions, startMs: number, days: number): Promise<Map<string, Map<string, CohortStats>>> {
  const out = new Map<string, Map<string, CohortStats>>();
  const wantedOf = (kind: string) => o.rules.filter((r) => r.kinds.includes(kind)).flatMap((r) => (r.detectorImpl.cohortFeatures?.(r.params, kind) ?? []).map((name) => ({ name, ...cohortEntry(name), windowDays: r.windowDays })));
  if (![...new Set(o.rules.flatMap((r) => r.kinds))].some((k) => wantedOf(k).length > 0)) return out;
  const specsOf = (kind: string) => {
    const all = featureSpecs(o.rules, kind);
    const names = new Set(wantedOf(kind).map((w) => w.feature));
    return all.filter((s) => names.has(s.name));
  };
  const values = new Map<string, Map<string, number[]>>(); // key → model → values
  const directory = o.cohortDirectory ?? o.directory;
  const total = directory.count();
  let done = 0;
  // Over the same pages as the rules pass (no partition), each page will be read again.
  const hint = { again: o.cohortDirectory === undefined };
  for await (const [page, series] of fetched(directory.pages(o.pageSize), o.concurrency ?? 1, (p) => fetchPage(o, p, specsOf, () => false, startMs, days, hint))) {
    for (const device of page) {
      const s = series.get(device.id);
      if (!s) continue;
      for (const w of wantedOf(device.kind)) {
        const daily = s.daily.get(w.feature)!;
        const spec = specsOf(device.kind).find((x) => x.name === w.feature)!;
        const totalOf = spec.agg === 'count' || spec.agg === 'sum';
        // Running sums, so that each step's window costs the same whatever its length.
        const n = new Float64Array(days + 1);
        const sy = new Float64Array(days + 1);
        const sx = new Float64Array(days + 1);
        const sxx = new Float64Array(days + 1);
        const sxy = new Float64Array(days + 1);
        for (let i = 0; i < days; i++) {
          const v = daily[i];
          const has = !Number.isNaN(v);
          n[i + 1] = n[i] + (has ? 1 : 0);
          sy[i + 1] = sy[i] + (has ? v : 0);
          sx[i + 1] = sx[i] + (has ? i : 0);
          sxx[i + 1] = sxx[i] + (has ? i * i : 0);
          sxy[i + 1] = sxy[i] + (has ? i * v : 0);
        }
        for (const step of o.steps) {
          const to = Math.round((step - startMs) / DAY_MS);
          const from = to - w.windowDays;
          if (from < 0) continue;
          const k = n[to] - n[from];
          if (k === 0) continue; // no data in the window: not part of the cohort
          let value: number;
          if (w.stat === 'slope') {
            if (k < Math.max(3, w.windowDays / 3)) continue;
            const mx = (sx[to] - sx[from]) / k;
            const my = (sy[to] - sy[from]) / k;
            const den = sxx[to] - sxx[from] - k * mx * mx;
            if (!(den > 0)) continue;
            value = (sxy[to] - sxy[from] - k * mx * my) / den;
          } else {
            value = totalOf ? sy[to] - sy[from] : (sy[to] - sy[from]) / k;
          }
          const key = cohortKey(w.name, step - w.windowDays * DAY_MS, step);
          const byModel = values.get(key) ?? new Map<string, number[]>();
          values.set(key, byModel);
          const list = byModel.get(device.model) ?? [];
          byModel.set(device.model, list);
          list.push(value);
        }
      }
    }
    done += page.length;
    o.onProgress?.({ kind: 'cohorts', done, total });
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
      ...(d.confidence ? { confidence: d.confidence } : {}),
      ...(d.cohort ? { cohort: { ...d.cohort, percentiles: finite(d.cohort.percentiles) } } : {}),
    },
    createdAt: iso(createdAtMs),
  };
  // The contract is checked here, where a trigger is made, not by each consumer.
  return triggerSchema.parse(trigger);
}
