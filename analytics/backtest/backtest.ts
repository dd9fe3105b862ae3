import type { InfluxStore } from '../../core/influx/index.ts';
import type { Catalogue } from '../../protocol/models.ts';
import { DAY_MS, type DeviceInfo } from '../detectors/index.ts';
import { ListDirectory } from '../engine/directory.ts';
import { dayFloor, evaluate } from '../engine/evaluate.ts';
import { FeatureSource } from '../features/source.ts';
import type { Rule } from '../rules.ts';
import type { ManifestDevice } from './manifest.ts';

export interface BacktestOptions {
  influx: InfluxStore;
  catalogue: Catalogue;
  rules: Rule[];
  devices: DeviceInfo[];
  fromMs: number;
  toMs: number;
  /** Days between evaluations (the schedule being simulated). */
  stepDays: number;
  pageSize: number;
  /** Ground truth: precision and recall per rule against the personas it names. */
  manifest?: ManifestDevice[];
  /** Examples kept per rule for the report. */
  examples?: number;
  onProgress?(p: { kind: string; done: number; total: number }): void;
}

export interface RuleResult {
  ruleId: string;
  personas: string[];
  /** Evaluations (device × step) that fired. */
  fired: number;
  /** Devices it fired on at least once. */
  devices: number;
  examples: Array<{ deviceId: string; windowTo: string; summary: string }>;
  truth?: { positives: number; tp: number; fp: number; fn: number; precision: number; recall: number; falsePositives: string[]; missed: string[] };
}

export interface BacktestReport {
  from: string;
  to: string;
  steps: string[];
  devices: number;
  evaluations: number;
  queries: number;
  rules: RuleResult[];
  durationMs: number;
}

/**
 * Runs rules over history without firing anything (no policy, no state, no delivery): what
 * would have fired at each step of a schedule between from and to, and, with a manifest, how
 * well each rule finds the personas it is meant for.
 */
export async function backtest(o: BacktestOptions): Promise<BacktestReport> {
  const started = Date.now();
  const to = dayFloor(o.toMs);
  const steps: number[] = [];
  const minWindow = Math.min(...o.rules.map((r) => r.windowDays));
  for (let s = to; s - minWindow * DAY_MS >= o.fromMs; s -= o.stepDays * DAY_MS) steps.push(s);
  if (steps.length === 0) steps.push(to);
  const source = new FeatureSource(o.influx, o.catalogue);
  const hits = new Map<string, Map<string, number>>(); // rule → device → times fired
  const examples = new Map<string, RuleResult['examples']>();
  for (const r of o.rules) {
    hits.set(r.id, new Map());
    examples.set(r.id, []);
  }
  const { devices, evaluations } = await evaluate({
    source, catalogue: o.catalogue, rules: o.rules, directory: new ListDirectory(o.devices), steps, pageSize: o.pageSize, dataFromMs: o.fromMs,
    onCandidate: (c) => {
      const h = hits.get(c.rule.id)!;
      h.set(c.device.id, (h.get(c.device.id) ?? 0) + 1);
      const ex = examples.get(c.rule.id)!;
      if (ex.length < (o.examples ?? 3)) ex.push({ deviceId: c.device.id, windowTo: new Date(c.windowTo).toISOString(), summary: c.detection.summary });
    },
    onProgress: o.onProgress,
  });
  const truthById = new Map(o.manifest?.map((d) => [d.id, d]));
  const rules: RuleResult[] = o.rules.map((r) => {
    const h = hits.get(r.id)!;
    const res: RuleResult = { ruleId: r.id, personas: r.personas, fired: [...h.values()].reduce((a, b) => a + b, 0), devices: h.size, examples: examples.get(r.id)! };
    if (o.manifest && r.personas.length > 0) {
      const positives = o.manifest.filter((d) => r.kinds.includes(d.kind) && r.personas.includes(d.persona) && (!d.patternStart || Date.parse(d.patternStart) < to));
      const pos = new Set(positives.map((d) => d.id));
      const predicted = [...h.keys()].filter((id) => truthById.has(id));
      const tp = predicted.filter((id) => pos.has(id)).length;
      const falsePositives = predicted.filter((id) => !pos.has(id));
      const missed = [...pos].filter((id) => !h.has(id));
      res.truth = {
        positives: pos.size, tp, fp: falsePositives.length, fn: missed.length,
        precision: predicted.length ? tp / predicted.length : pos.size === 0 ? 1 : 0,
        recall: pos.size ? tp / pos.size : 1,
        falsePositives: falsePositives.slice(0, 20).map((id) => `${id} (${truthById.get(id)!.persona})`),
        missed: missed.slice(0, 20),
      };
    }
    return res;
  });
  return {
    from: new Date(o.fromMs).toISOString(), to: new Date(to).toISOString(), steps: steps.map((s) => new Date(s).toISOString()).reverse(),
    devices, evaluations, queries: source.queries, rules, durationMs: Date.now() - started,
  };
}

/** The report as a few lines and a table a person reads at the end of a run. */
export function formatReport(r: BacktestReport): string {
  const lines = [
    `Backtest ${r.from.slice(0, 10)} → ${r.to.slice(0, 10)}: ${r.devices} devices, ${r.steps.length} evaluation step${r.steps.length > 1 ? 's' : ''}, ${r.evaluations} rule evaluations, ${r.queries} InfluxQL queries, ${(r.durationMs / 1000).toFixed(1)} s`,
    '',
  ];
  const withTruth = r.rules.some((x) => x.truth);
  const head = ['rule', 'devices', 'fired', ...(withTruth ? ['personas', 'planted', 'tp', 'fp', 'fn', 'precision', 'recall'] : [])];
  const rows = r.rules.map((x) => [x.ruleId, String(x.devices), String(x.fired), ...(withTruth ? x.truth
    ? [x.personas.join(','), String(x.truth.positives), String(x.truth.tp), String(x.truth.fp), String(x.truth.fn), x.truth.precision.toFixed(3), x.truth.recall.toFixed(3)]
    : [x.personas.join(',') || '—', '', '', '', '', '', ''] : [])]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  lines.push(fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt), '');
  for (const x of r.rules) {
    if (x.examples.length > 0) lines.push(`${x.ruleId}, e.g. ${x.examples[0].deviceId} at ${x.examples[0].windowTo.slice(0, 10)}: ${x.examples[0].summary}`);
    if (x.truth && x.truth.fp > 0) lines.push(`  false positives: ${x.truth.falsePositives.join(', ')}${x.truth.fp > 20 ? ' …' : ''}`);
    if (x.truth && x.truth.fn > 0) lines.push(`  missed: ${x.truth.missed.join(', ')}${x.truth.fn > 20 ? ' …' : ''}`);
  }
  return lines.join('\n');
}
