import type { Catalogue, Model } from '../../protocol/models.ts';
import { WASHER_PROGRAMS } from '../../protocol/kinds/washer.ts';
import { TOO_FEW, type InsightCell, type InsightChart, type ModelInsight } from '../../protocol/insights.ts';
import type { FeatureSpec } from '../detectors/index.ts';
import { cell, fmt, Histogram, Means, monthOf, RateAcc, shareOf, Shares, told, tooFewCell, type Ctx } from './aggregate.ts';
import { daysPerMonth, ErrorRates, faultsOf, monthsOf, total, type DeviceData, type KindInsights } from './kind.ts';

/**
 * An owner outgrows a washer when most of their washes (half or more) are loaded above its
 * capacity in the period: the drum no longer fits the household's laundry, not now and then
 * but as a rule. (The washer-overloaded upsell rule acts earlier, from a third of washes.)
 */
export const OUTGROW_SHARE = 0.5;
/** Washes a device needs in the period before it counts towards the outgrowing share. */
export const OUTGROW_MIN_WASHES = 8;

const cap = (m: Model | undefined) => Number(m?.capacity_kg);
const above = (f: number) => (m: Model | undefined) => (Number.isFinite(cap(m)) ? { field: 'load_kg', op: '>' as const, value: cap(m) * f } : undefined);
const tempAtMost = (t: number) => () => ({ field: 'temp_c', op: '<=' as const, value: t });

const SPECS: FeatureSpec[] = [
  { name: 'i.washes', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
  { name: 'i.maxLoad', measurement: 'washer_cycle', agg: 'max', field: 'load_kg' },
  { name: 'i.l50', measurement: 'washer_cycle', agg: 'count', field: 'load_kg', filter: above(0.5) },
  { name: 'i.l80', measurement: 'washer_cycle', agg: 'count', field: 'load_kg', filter: above(0.8) },
  { name: 'i.over', measurement: 'washer_cycle', agg: 'count', field: 'load_kg', filter: above(1) },
  { name: 'i.l120', measurement: 'washer_cycle', agg: 'count', field: 'load_kg', filter: above(1.2) },
  { name: 'i.t30', measurement: 'washer_cycle', agg: 'count', field: 'temp_c', filter: tempAtMost(30) },
  { name: 'i.t40', measurement: 'washer_cycle', agg: 'count', field: 'temp_c', filter: tempAtMost(40) },
  { name: 'i.t60', measurement: 'washer_cycle', agg: 'count', field: 'temp_c', filter: tempAtMost(60) },
];

const LOAD_BANDS = ['under 50%', '50–80%', '80–100%', '100–120%', 'over 120%'] as const;
const TEMP_BANDS = ['30 °C or less', '40 °C', '50–60 °C', 'over 60 °C'] as const;
/**
 * Washes by the day they were run on: a day with at least one wash above the drum's capacity
 * against days within it. Errors are counted on the day they are reported (a fault shows at the
 * end of the wash that caused it, or soon after).
 */
export const USAGE_BANDS = ['washes on days within capacity', 'washes on days with a wash above capacity'] as const;
const TOP_BAND = USAGE_BANDS[1];
const PER = { label: '100 washes', scale: 100 };

class ModelAcc {
  devices = 0;
  readonly loads = new Shares(LOAD_BANDS);
  readonly temps = new Shares(TEMP_BANDS);
  readonly programs = new Shares(WASHER_PROGRAMS);
  readonly perWeek = new Histogram([2, 4, 7, 10, 14], ['under 2', '2–4', '4–7', '7–10', '10–14', '14 or more']);
  readonly errors = new ErrorRates(USAGE_BANDS);
  readonly monthWashes = new Means();
  eligible = 0;
  outgrowing = 0;
  readonly needs = new Map<string, number>();
  overWashes = 0;
  washes = 0;
}

/** The 75th percentile of a device's heaviest load per day (days with a wash). */
function heavyLoad(maxLoad: Float64Array | undefined): number {
  const v = [...(maxLoad ?? [])].filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor(0.75 * v.length))] : NaN;
}

export class WasherInsights implements KindInsights {
  readonly kind = 'washer';
  readonly readings = { measurement: 'washer_cycle', field: 'load_kg' };
  readonly specs = SPECS;
  readonly byTag = { measurement: 'washer_cycle', field: 'load_kg', tag: 'program' };
  readonly per = PER;
  private readonly models = new Map<string, ModelAcc>();

  constructor(private readonly catalogue: Catalogue) {}

  modelRate(model: string): RateAcc | undefined {
    return this.models.get(model)?.errors.model;
  }

  /** The smallest model of the range whose drum holds `kg` and is bigger than `current`'s. */
  private fitting(current: Model | undefined, kg: number): string {
    const fits = this.catalogue
      .ofKind('washer')
      .filter((m) => cap(m) >= kg && cap(m) > cap(current))
      .sort((a, b) => cap(a) - cap(b));
    return fits[0]?.id ?? 'none';
  }

  pooled(): { rates: ErrorRates; topBand: string } {
    const rates = new ErrorRates(USAGE_BANDS);
    for (const m of this.models.values()) rates.mergeUsage(m.errors);
    return { rates, topBand: TOP_BAND };
  }

  add(d: DeviceData): void {
    const f = (n: string) => d.series.daily.get(n);
    const washes = total(f('i.washes'));
    if (washes <= 0) return;
    const m = this.models.get(d.device.model) ?? new ModelAcc();
    this.models.set(d.device.model, m);
    m.devices++;
    const faults = faultsOf(d.series.events);
    const [l50, l80, over, l120] = ['i.l50', 'i.l80', 'i.over', 'i.l120'].map((n) => total(f(n)));
    const [t30, t40, t60] = ['i.t30', 'i.t40', 'i.t60'].map((n) => total(f(n)));
    m.loads.addDevice({ [LOAD_BANDS[0]]: washes - l50, [LOAD_BANDS[1]]: l50 - l80, [LOAD_BANDS[2]]: l80 - over, [LOAD_BANDS[3]]: over - l120, [LOAD_BANDS[4]]: l120 });
    m.temps.addDevice({ [TEMP_BANDS[0]]: t30, [TEMP_BANDS[1]]: t40 - t30, [TEMP_BANDS[2]]: t60 - t40, [TEMP_BANDS[3]]: washes - t60 });
    m.programs.addDevice(d.tagCounts);
    m.washes += washes;
    m.overWashes += over;

    // Washes a week over the days from its first to its last wash of the period (at least a week).
    const daily = f('i.washes')!;
    let first = -1;
    let last = -1;
    daily.forEach((v, i) => {
      if (v > 0) {
        if (first < 0) first = i;
        last = i;
      }
    });
    m.perWeek.add(washes / (Math.max(7, last - first + 1) / 7));

    const share = over / washes;
    const errorsOf = (from: number, to: number) => faults.filter((e) => e.timeMs >= from && e.timeMs < to).length;
    const overDaily = f('i.over');
    const perBand = { [USAGE_BANDS[0]]: [0, 0], [USAGE_BANDS[1]]: [0, 0] };
    const errorsByDay = new Map<number, number>();
    for (const e of faults) {
      const i = Math.floor((e.timeMs - d.series.startMs) / 86_400_000);
      errorsByDay.set(i, (errorsByDay.get(i) ?? 0) + 1);
    }
    daily.forEach((v, i) => {
      if (!(v > 0)) return;
      const b = perBand[(overDaily?.[i] ?? 0) > 0 ? USAGE_BANDS[1] : USAGE_BANDS[0]];
      b[0] += errorsByDay.get(i) ?? 0;
      b[1] += v;
    });
    m.errors.add(d.firmware, faults.length, washes, perBand);
    if (washes >= OUTGROW_MIN_WASHES) {
      m.eligible++;
      if (share >= OUTGROW_SHARE) {
        m.outgrowing++;
        const target = this.fitting(d.model, heavyLoad(f('i.maxLoad')));
        m.needs.set(target, (m.needs.get(target) ?? 0) + 1);
      }
    }

    // Month over month: washes a week, and errors per 100 washes.
    const dpm = daysPerMonth(d.series.startMs, d.series.days);
    const perMonth = new Map<string, number>();
    daily.forEach((v, i) => {
      if (v > 0) {
        const mo = monthOf(d.series.startMs + i * 86_400_000);
        perMonth.set(mo, (perMonth.get(mo) ?? 0) + v);
      }
    });
    for (const [mo, n] of perMonth) {
      m.monthWashes.add(mo, n / (dpm.get(mo)! / 7));
      const from = Date.parse(`${mo}-01T00:00:00Z`);
      const to = Date.UTC(new Date(from).getUTCFullYear(), new Date(from).getUTCMonth() + 1, 1);
      m.errors.addMonth(mo, errorsOf(from, to), n);
    }
  }

  finish(c: Ctx, catalogue: Catalogue): ModelInsight[] {
    return [...this.models.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, m]) => this.model(id, m, c, catalogue));
  }

  private model(id: string, m: ModelAcc, c: Ctx, catalogue: Catalogue): ModelInsight {
    const model = catalogue.get(id);
    const base = { kind: 'washer', model: id, ...(model ? { name: model.name, capacity: `${cap(model)} kg` } : {}) };
    if (m.devices < c.minDevices) return tooFewModel(base);
    const findings: Array<string | null> = [];
    const usage: InsightChart[] = [
      m.loads.chart('load', 'Load against capacity', 'load, % of the drum capacity', '% of washes', c),
      m.programs.chart('programs', 'Programs chosen', 'program', '% of washes', c),
      m.temps.chart('temperatures', 'Temperatures chosen', 'temperature', '% of washes', c),
      m.perWeek.chart('per-week', 'Washes a week', 'washes a week', c),
    ];
    const overShare = (100 * m.overWashes) / m.washes;
    findings.push(`${fmt(overShare)}% of washes are loaded above the ${cap(model)} kg capacity.`);

    const afterSales = m.errors.view(PER, TOP_BAND, c);
    const top = afterSales.comparisons[0];
    if (!top.tooFew && top.differs && top.ratio! > 1) {
      findings.push(`Faults concentrate in overloaded use: washes on days with a wash above capacity come with ${fmt(top.ratio!, 2)}× the errors per 100 washes of the rest (${Math.round(c.level * 100)}% CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`);
    } else if (!top.tooFew) {
      findings.push(`Overloaded days show no clear effect on errors: ${fmt(top.ratio!, 2)}× the rate of the rest (${Math.round(c.level * 100)}% CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`);
    }
    for (const cmp of afterSales.comparisons.slice(1)) {
      if (!cmp.tooFew && cmp.differs && cmp.ratio! > 1) {
        findings.push(`${cmp.a[0].toUpperCase()}${cmp.a.slice(1)} faults more: ${fmt(cmp.ratio!, 2)}× the errors per 100 washes of the other versions (${Math.round(c.level * 100)}% CI for all versions together, ${fmt(cmp.lower!, 2)}–${fmt(cmp.upper!, 2)}×).`);
      }
    }

    let outgrowing: ModelInsight['opportunities']['outgrowing'];
    if (m.eligible < c.minDevices) {
      outgrowing = { eligible: null, outgrowing: null, share: null, lower: null, upper: null, needs: [], tooFew: true };
    } else {
      const s = shareOf(m.outgrowing, m.eligible, c);
      const needs: InsightCell[] = [...m.needs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([target, n]) => (n >= c.minDevices ? cell(target, (100 * n) / m.outgrowing, n, c) : tooFewCell(target)));
      outgrowing = { eligible: m.eligible, outgrowing: m.outgrowing, ...s, needs, tooFew: false };
      const main = needs.filter((n) => !n.tooFew).sort((a, b) => b.value! - a.value!)[0];
      findings.push(`${fmt(s.share)}% of owners (${Math.round(c.level * 100)}% CI ${fmt(s.lower)}–${fmt(s.upper)}%) outgrow it: most of their washes are above capacity${main ? `; most of them would need the ${main.label}` : ''}.`);
    }
    const rarePrograms = WASHER_PROGRAMS.map((p) => ({ program: p, washShare: m.programs.share(p), ownerShare: (100 * m.programs.devices(p)) / m.devices }))
      .filter((p) => p.washShare < 3 && p.ownerShare < 10)
      .map((p) => ({ program: p.program, washShare: Math.round(p.washShare * 10) / 10, ownerShare: Math.round(p.ownerShare * 10) / 10 }));
    for (const p of rarePrograms) findings.push(`Almost nobody uses ${p.program}: ${fmt(p.washShare)}% of washes, ${fmt(p.ownerShare)}% of owners.`);

    const months = [...m.monthWashes.acc.keys()].sort();
    const trends: InsightChart[] = [
      m.monthWashes.chart('trend-washes', 'line', 'Washes a week, month by month', 'month', 'washes a week', months, c, 2),
      { id: 'trend-errors', type: 'line', title: 'Errors per 100 washes, month by month', unit: 'errors per 100 washes', x: 'month', cells: months.map((mo) => { const r = m.errors.months.get(mo)!.view('model', mo, PER.label, PER.scale, c); return r.tooFew ? tooFewCell(mo) : cell(mo, r.rate!, r.devices!, c, 2); }) },
    ];
    findings.push(trendFinding('washes a week', trends[0]));
    return { ...base, devices: m.devices, tooFew: false, findings: findings.filter(told), usage, afterSales, opportunities: { outgrowing, rarePrograms }, trends };
  }
}

/** A model with too few devices: no figure at all. */
export function tooFewModel(base: Pick<ModelInsight, 'kind' | 'model' | 'name' | 'capacity'>): ModelInsight {
  return { ...base, devices: null, tooFew: true, findings: [`${TOO_FEW}: no figure is shown for this model.`], usage: [], afterSales: { rates: [], comparisons: [] }, opportunities: { rarePrograms: [] }, trends: [] };
}

/** The last complete change of a monthly series, in words; null when either month had too few devices. */
export function trendFinding(what: string, chart: InsightChart): string | null {
  const shown = chart.cells.filter((x) => !x.tooFew);
  if (shown.length < 2) return null;
  const [a, b] = shown.slice(-2);
  const change = a.value ? (100 * (b.value! - a.value)) / a.value : 0;
  const way = Math.abs(change) < 5 ? 'held steady' : change > 0 ? 'rose' : 'fell';
  return `${what[0].toUpperCase()}${what.slice(1)} ${way} from ${a.label} to ${b.label}: ${fmt(a.value!, 2)} → ${fmt(b.value!, 2)} (${change >= 0 ? '+' : ''}${fmt(change, 0)}%).`;
}

export { monthsOf };
