import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalogue } from '../../protocol/models.ts';
import { DAY_MS, type DeviceInfo } from '../detectors/index.ts';
import { ListDirectory } from '../engine/directory.ts';
import { dayFloor } from '../../core/time.ts';
import { evaluate, type Candidate } from '../engine/evaluate.ts';
import { applyPolicy } from '../engine/job.ts';
import type { PolicyOptions, SuppressionReason } from '../engine/policy.ts';
import type { DailySource } from '../features/source.ts';
import type { Rule } from '../rules.ts';
import { StateStore } from '../store/state.ts';
import type { ManifestDevice, TruthSpan } from './manifest.ts';

export interface BacktestOptions {
  /** Daily features: InfluxDB (FeatureSource) or a history's readings in memory (ReadingsSource). */
  source: DailySource;
  catalogue: Catalogue;
  rules: Rule[];
  devices: DeviceInfo[];
  fromMs: number;
  toMs: number;
  /** Days between evaluations (the schedule being simulated); production runs daily. */
  stepDays: number;
  pageSize: number;
  /** Ground truth: precision and recall per rule against the personas it names. */
  manifest?: ManifestDevice[];
  /**
   * The policy the detections meet (cooldown, owner change, an open fault holding back upsell
   * and retention, a replaced device). Default: production's, without the frequency cap and
   * without feedback (no declines): both arbitrate between offers, neither says whether a rule
   * was right. Consent is taken as given for every purpose, for the same reason.
   */
  policy?: Partial<PolicyOptions>;
  /** Examples kept per rule for the report. */
  examples?: number;
  onProgress?(p: { kind: string; done: number; total: number }): void;
}

/** A device of a rule's kinds with at least one alarm, grouped by its persona. */
export interface PersonaCount {
  devices: number;
  alarmed: number;
  alarms: number;
}

export interface FalsePositive {
  deviceId: string;
  persona: string;
  windowTo: string;
  /** What the simulator knows held over the trigger's window: absent, season, stuck, near-threshold… or noise. */
  reasons: string[];
  summary: string;
}

export interface RuleResult {
  ruleId: string;
  category: string;
  personas: string[];
  windowDays: number;
  /** False when the rule's window does not fit in the history: nothing was measured. */
  evaluated: boolean;
  /** Evaluation days the rule ran on. */
  steps: number;
  /** Device × day evaluations that detected the pattern, before the policy. */
  detections: number;
  /** Triggers after the policy (one per cooldown, no window reaching back before a resale…). */
  alarms: number;
  /** Devices with at least one trigger. */
  devices: number;
  /** Detections the policy held back, by reason. */
  held: Partial<Record<SuppressionReason, number>>;
  examples: Array<{ deviceId: string; windowTo: string; summary: string; confidence?: string }>;
  truth?: {
    /** Planted patterns under way for the rule's detection days within the history. */
    positives: number;
    tp: number;
    fn: number;
    recall: number;
    /** Triggers whose window overlaps a pattern of the rule's personas on the device. */
    correct: number;
    fp: number;
    precision: number;
    byPersona: Record<string, PersonaCount>;
    fpReasons: Record<string, number>;
    falsePositives: FalsePositive[];
    missed: string[];
  };
}

export interface BacktestReport {
  from: string;
  to: string;
  stepDays: number;
  steps: number;
  devices: number;
  evaluations: number;
  queries: number;
  durationMs: number;
  /** What could not be measured, and why (a window longer than the history, no planted pattern…). */
  warnings: string[];
  rules: RuleResult[];
  /** Households with no persona that went away: how many of their absences up to 28 days got a retention trigger. */
  absences?: { households: number; absences: number; withRetention: number; share: number; examples: string[] };
  /** EVs and hybrids without a failing battery: how many got a battery trigger in the cold months. */
  winterBattery?: { cars: number; withBatteryAlarm: number; devices: string[] };
}

const DEFAULT_POLICY: PolicyOptions = { frequencyCapMax: 0, frequencyCapDays: 7, declineSuppressionDays: 0, serviceOpenDays: 30 };
/** The longest absence a household's quiet counts as (the absence figure looks at those up to it). */
const ABSENCE_DAYS = 28;

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (s: string | null) => (s === null ? Infinity : Date.parse(s));
const overlaps = (t: TruthSpan, from: number, to: number) => ms(t.from) < to && ms(t.to) > from;

interface Alarm {
  rule: Rule;
  deviceId: string;
  from: number;
  to: number;
  summary: string;
  battery: boolean;
}

/**
 * Runs rules over history as production would have (daily by default), through the same
 * detectors, cohorts and households (pages by owner), and the same policy code (cooldown,
 * owner change, open service), in a throwaway state: what would have been sent, and, with a
 * manifest, how right it was.
 */
export async function backtest(o: BacktestOptions): Promise<BacktestReport> {
  const started = Date.now();
  const to = dayFloor(o.toMs);
  const warnings: string[] = [];
  const historyDays = Math.floor((to - o.fromMs) / DAY_MS);
  const fits = (r: Rule) => r.windowDays <= historyDays;
  for (const r of o.rules.filter((x) => !fits(x))) {
    warnings.push(`${r.id} looks at ${r.windowDays} days but the history holds ${historyDays}: it was not evaluated, and nothing is measured for it (give a longer history)`);
  }
  const rules = o.rules.filter(fits);
  const steps: number[] = [];
  if (rules.length > 0) {
    const minWindow = Math.min(...rules.map((r) => r.windowDays));
    for (let s = to; s - minWindow * DAY_MS >= o.fromMs; s -= o.stepDays * DAY_MS) steps.push(s);
    steps.reverse();
  }
  const policy = { ...DEFAULT_POLICY, ...o.policy };
  const truthById = new Map(o.manifest?.map((d) => [d.id, d]));
  const stateDir = await mkdtemp(join(tmpdir(), 'ug-backtest-'));
  const state = new StateStore(stateDir);
  state.open();
  const alarms: Alarm[] = [];
  const detections = new Map<string, number>();
  const held = new Map<string, Partial<Record<SuppressionReason, number>>>();
  const examples = new Map<string, RuleResult['examples']>();
  for (const r of o.rules) {
    detections.set(r.id, 0);
    held.set(r.id, {});
    examples.set(r.id, []);
  }
  let buffered: Candidate[] = [];
  const allPurposes = ['marketing', 'service', 'analytics'];
  /** The device as the registry would have shown it at `atMs` (a resold device had another owner before). */
  const deviceAt = (d: DeviceInfo, atMs: number): DeviceInfo => {
    const m = truthById.get(d.id);
    const prev = m?.previousOwners.find((p) => atMs < Date.parse(p.until));
    if (prev) return { ...d, owner: prev.owner, ownerSince: undefined, registeredAt: iso(o.fromMs), consent: allPurposes };
    return { ...d, registeredAt: iso(o.fromMs), consent: allPurposes };
  };
  let evaluations = 0;
  let devices = 0;
  try {
    const result = await evaluate({
      source: o.source, catalogue: o.catalogue, rules, directory: new ListDirectory(o.devices), steps, pageSize: o.pageSize, dataFromMs: o.fromMs,
      onCandidate: (c) => {
        buffered.push(c);
        detections.set(c.rule.id, detections.get(c.rule.id)! + 1);
      },
      // The policy in time order per device: cooldowns, owner changes and open service triggers are
      // a device's own (the frequency cap, the only one across devices, is off in a backtest).
      onPageDone: async () => {
        const byDevice = new Map<string, Candidate[]>();
        for (const c of buffered) byDevice.set(c.device.id, [...(byDevice.get(c.device.id) ?? []), c]);
        buffered = [];
        for (const list of byDevice.values()) {
          // Day by day, the day's candidates of the device through the policy as a scheduled run would.
          const byDay = new Map<number, Candidate[]>();
          for (const c of list) byDay.set(c.windowTo, [...(byDay.get(c.windowTo) ?? []), { ...c, device: deviceAt(c.device, c.windowTo) }]);
          for (const day of [...byDay.keys()].sort((a, b) => a - b)) {
            for (const { candidate: c, reason, fired } of await applyPolicy({ state, policy, sinks: [] }, byDay.get(day)!, day)) {
              if (reason) {
                const h = held.get(c.rule.id)!;
                h[reason] = (h[reason] ?? 0) + 1;
                continue;
              }
              if (!fired) continue;
              alarms.push({ rule: c.rule, deviceId: c.device.id, from: c.windowFrom, to: c.windowTo, summary: c.detection.summary, battery: c.detection.figures.battery_declining === 1 });
              const ex = examples.get(c.rule.id)!;
              if (ex.length < (o.examples ?? 3)) ex.push({ deviceId: c.device.id, windowTo: iso(c.windowTo), summary: c.detection.summary, ...(c.detection.confidence ? { confidence: c.detection.confidence.summary } : {}) });
            }
          }
        }
      },
      onProgress: o.onProgress,
    });
    evaluations = result.evaluations;
    devices = result.devices;
  } finally {
    await state.close();
    await rm(stateDir, { recursive: true, force: true });
  }

  const firstStep = steps[0] ?? to;
  const results: RuleResult[] = o.rules.map((r) => {
    const mine = alarms.filter((a) => a.rule === r);
    const res: RuleResult = {
      ruleId: r.id, category: r.category, personas: r.personas, windowDays: r.windowDays, evaluated: fits(r),
      steps: steps.filter((s) => s - r.windowDays * DAY_MS >= o.fromMs).length,
      detections: detections.get(r.id)!, alarms: mine.length, devices: new Set(mine.map((a) => a.deviceId)).size,
      held: held.get(r.id)!, examples: examples.get(r.id)!,
    };
    if (o.manifest && r.personas.length > 0 && res.evaluated) res.truth = score(r, mine, o.manifest, o.fromMs, to, warnings);
    return res;
  });
  const report: BacktestReport = {
    from: iso(o.fromMs), to: iso(to), stepDays: o.stepDays, steps: steps.length, devices, evaluations, queries: o.source.queries,
    durationMs: 0, warnings, rules: results,
  };
  if (o.manifest) {
    report.absences = absenceFigure(o.manifest, alarms, firstStep, to);
    report.winterBattery = winterBattery(o.manifest, alarms, o.catalogue);
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** Why a trigger on a device without the rule's pattern may have fired: what the truth says held over its window. */
function reasonsOf(d: ManifestDevice, from: number, to: number): string[] {
  const reasons = new Set<string>();
  for (const t of d.truth) {
    if (!overlaps(t, from, to)) continue;
    if (t.what === 'persona') reasons.add(`persona ${t.persona}`);
    else if (t.what === 'season') reasons.add(`season (${t.detail})`);
    else if (t.what === 'stuck') reasons.add(`stuck ${t.detail ?? 'sensor'}`);
    else reasons.add(t.what);
  }
  for (const tr of d.traits) reasons.add(tr);
  if (reasons.size === 0) reasons.add('noise');
  return [...reasons];
}

function score(r: Rule, mine: Alarm[], manifest: ManifestDevice[], historyFrom: number, to: number, warnings: string[]): NonNullable<RuleResult['truth']> {
  const devices = manifest.filter((d) => r.kinds.includes(d.kind));
  const need = r.detectorImpl.detection?.(r.params) ?? { after: r.windowDays, before: 0 };
  const episodesOf = (d: ManifestDevice) => d.truth.filter((t) => t.what === 'persona' && r.personas.includes(t.persona ?? ''));
  const byDevice = new Map<string, Alarm[]>();
  for (const a of mine) byDevice.set(a.deviceId, [...(byDevice.get(a.deviceId) ?? []), a]);
  let positives = 0;
  let tp = 0;
  const missed: string[] = [];
  // A borderline pattern (neither clearly there nor clearly not) is no pattern to find; a trigger on it is not false either.
  const borderline = (t: TruthSpan) => t.detail?.startsWith('borderline') ?? false;
  for (const d of devices) {
    for (const e of episodesOf(d).filter((x) => !borderline(x))) {
      // Visible: under way for the days the rule needs, within the history, after the history it compares with.
      if (ms(e.from) < historyFrom + need.before * DAY_MS && need.before > 0) continue;
      const visibleFrom = Math.max(ms(e.from), historyFrom);
      if (Math.min(ms(e.to), to) - visibleFrom < need.after * DAY_MS) continue;
      positives++;
      if ((byDevice.get(d.id) ?? []).some((a) => overlaps(e, a.from, a.to))) tp++;
      else missed.push(`${d.id} (${e.persona} from ${e.from.slice(0, 10)}${e.to ? ` to ${e.to.slice(0, 10)}` : ''})`);
    }
  }
  const byPersona: Record<string, PersonaCount> = {};
  const falsePositives: FalsePositive[] = [];
  const fpReasons: Record<string, number> = {};
  let correct = 0;
  for (const d of devices) {
    const p = (byPersona[d.persona] ??= { devices: 0, alarmed: 0, alarms: 0 });
    p.devices++;
    const list = byDevice.get(d.id) ?? [];
    if (list.length > 0) p.alarmed++;
    p.alarms += list.length;
    for (const a of list) {
      if (episodesOf(d).some((e) => overlaps(e, a.from, a.to))) {
        correct++;
        continue;
      }
      const reasons = reasonsOf(d, a.from, a.to);
      for (const why of reasons) fpReasons[why] = (fpReasons[why] ?? 0) + 1;
      falsePositives.push({ deviceId: d.id, persona: d.persona, windowTo: iso(a.to), reasons, summary: a.summary });
    }
  }
  if (positives === 0) warnings.push(`${r.id}: no pattern of ${r.personas.join(', ')} was under way long enough within the history to be found; its recall is not measured`);
  const fp = mine.length - correct;
  return {
    positives, tp, fn: positives - tp, recall: positives ? tp / positives : NaN,
    correct, fp, precision: mine.length ? correct / mine.length : NaN,
    byPersona, fpReasons, falsePositives: falsePositives.slice(0, 50), missed: missed.slice(0, 50),
  };
}

/**
 * Households with no persona at all that went away (absences up to 28 days, wholly inside the
 * evaluated days): how many absences got a retention trigger (usage collapse, silence) on one
 * of the household's devices whose window overlapped the absence.
 */
function absenceFigure(manifest: ManifestDevice[], alarms: Alarm[], firstStep: number, to: number): BacktestReport['absences'] {
  const households = new Map<string, ManifestDevice[]>();
  for (const d of manifest) households.set(d.owner, [...(households.get(d.owner) ?? []), d]);
  const retention = new Map<string, Alarm[]>();
  for (const a of alarms) if (a.rule.category === 'retention') retention.set(a.deviceId, [...(retention.get(a.deviceId) ?? []), a]);
  let n = 0;
  let hit = 0;
  let counted = 0;
  const examples: string[] = [];
  for (const [owner, list] of households) {
    if (list.some((d) => d.truth.some((t) => t.what !== 'absent' && t.what !== 'season' && t.what !== 'stuck' && t.what !== 'missing') || d.previousOwners.length > 0)) continue;
    const spans = new Map<string, TruthSpan>();
    for (const d of list) for (const t of d.truth) if (t.what === 'absent') spans.set(`${t.from}|${t.to}`, t);
    let any = false;
    for (const t of spans.values()) {
      const from = ms(t.from);
      const until = ms(t.to);
      if (until - from > ABSENCE_DAYS * DAY_MS || from < firstStep || until > to) continue;
      any = true;
      n++;
      const fired = list.some((d) => (retention.get(d.id) ?? []).some((a) => a.from < until && a.to > from));
      if (fired) {
        hit++;
        if (examples.length < 10) examples.push(`${owner}: away ${t.from.slice(0, 10)} to ${t.to?.slice(0, 10)}`);
      }
    }
    if (any) counted++;
  }
  return { households: counted, absences: n, withRetention: hit, share: n ? 1 - hit / n : NaN, examples };
}

/** EVs and hybrids without a failing battery: battery triggers whose window reaches into October to March. */
function winterBattery(manifest: ManifestDevice[], alarms: Alarm[], catalogue: Catalogue): BacktestReport['winterBattery'] {
  const healthy = manifest.filter((d) => d.kind === 'car' && typeof catalogue.get(d.model)?.battery_kwh === 'number' && !d.truth.some((t) => t.what === 'persona' && t.persona === 'car-battery-decline'));
  const ids = new Set(healthy.map((d) => d.id));
  const cold = (a: Alarm) => {
    for (let t = a.from; t < a.to; t += DAY_MS) {
      const m = new Date(t).getUTCMonth();
      if (m >= 9 || m <= 2) return true;
    }
    return false;
  };
  const hit = new Set(alarms.filter((a) => a.battery && ids.has(a.deviceId) && cold(a)).map((a) => a.deviceId));
  return { cars: healthy.length, withBatteryAlarm: hit.size, devices: [...hit].slice(0, 20) };
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)];
}

/** The report as a person reads it at the end of a run: the table, warnings, confusion by persona, false alarms and why. */
export function formatReport(r: BacktestReport): string {
  const lines = [
    `Backtest ${r.from.slice(0, 10)} → ${r.to.slice(0, 10)}: ${r.devices} devices, ${r.steps} evaluation day${r.steps === 1 ? '' : 's'} (every ${r.stepDays === 1 ? 'day' : `${r.stepDays} days`}), ${r.evaluations} rule evaluations${r.queries ? `, ${r.queries} InfluxQL queries` : ''}, ${(r.durationMs / 1000).toFixed(1)} s`,
    '',
  ];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.warnings.length) lines.push('');
  const withTruth = r.rules.some((x) => x.truth);
  const head = ['rule', 'detections', 'triggers', 'devices', ...(withTruth ? ['personas', 'planted', 'found', 'missed', 'false', 'precision', 'recall'] : [])];
  const rows = r.rules.map((x) => [
    x.ruleId, x.evaluated ? String(x.detections) : 'n/a', x.evaluated ? String(x.alarms) : 'n/a', x.evaluated ? String(x.devices) : 'n/a',
    ...(withTruth ? (x.truth
      ? [x.personas.join(','), String(x.truth.positives), String(x.truth.tp), String(x.truth.fn), String(x.truth.fp), f3(x.truth.precision), f3(x.truth.recall)]
      : [x.personas.join(',') || '—', '', '', '', '', x.evaluated ? '' : 'n/a', x.evaluated ? '' : 'n/a']) : []),
  ]);
  lines.push(...table(head, rows), '');
  if (withTruth) {
    lines.push('Devices with a trigger / devices, by persona (a rule\'s own personas first):');
    const personas = [...new Set(r.rules.flatMap((x) => Object.keys(x.truth?.byPersona ?? {})))].sort((a, b) => (a === 'normal' ? -1 : b === 'normal' ? 1 : a.localeCompare(b)));
    const mrows = r.rules.filter((x) => x.truth).map((x) => [x.ruleId, ...personas.map((p) => {
      const c = x.truth!.byPersona[p];
      return c ? `${c.alarmed}/${c.devices}${x.personas.includes(p) ? '*' : ''}` : '';
    })]);
    lines.push(...table(['rule', ...personas], mrows), '');
  }
  if (r.absences) {
    const a = r.absences;
    lines.push(`Absences of households without a persona (up to 28 days, ${a.households} households): ${a.absences} absences, ${a.withRetention} with a retention trigger; ${Number.isFinite(a.share) ? `${(a.share * 100).toFixed(1)}%` : 'n/a'} without one.`);
  }
  if (r.winterBattery) lines.push(`Healthy EVs and hybrids with a battery trigger in October to March: ${r.winterBattery.withBatteryAlarm} of ${r.winterBattery.cars}${r.winterBattery.devices.length ? ` (${r.winterBattery.devices.join(', ')})` : ''}.`);
  if (r.absences || r.winterBattery) lines.push('');
  for (const x of r.rules) {
    if (x.examples.length > 0) lines.push(`${x.ruleId}, e.g. ${x.examples[0].deviceId} on ${x.examples[0].windowTo.slice(0, 10)}: ${x.examples[0].summary}${x.examples[0].confidence ? ` (${x.examples[0].confidence})` : ''}`);
    const heldText = Object.entries(x.held).map(([k, v]) => `${k} ${v}`).join(', ');
    if (heldText) lines.push(`  held back by the policy: ${heldText}`);
    if (x.truth && x.truth.fp > 0) {
      lines.push(`  false alarms by what held: ${Object.entries(x.truth.fpReasons).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
      for (const fp of x.truth.falsePositives.slice(0, 5)) lines.push(`    ${fp.deviceId} (${fp.persona}) on ${fp.windowTo.slice(0, 10)}: ${fp.reasons.join(', ')}`);
    }
    if (x.truth && x.truth.fn > 0) lines.push(`  missed: ${x.truth.missed.slice(0, 5).join(', ')}${x.truth.fn > 5 ? ' …' : ''}`);
  }
  return lines.join('\n');
}
