import type { Catalogue } from '../../protocol/models.ts';
import type { InsightChart, ModelInsight } from '../../protocol/insights.ts';
import type { FeatureSpec } from '../detectors/index.ts';
import { cell, fmt, Histogram, Means, monthOf, RateAcc, seasonOf, SEASONS, told, tooFewCell, type Ctx } from './aggregate.ts';
import { ErrorRates, faultsOf, total, type DeviceData, type KindInsights } from './kind.ts';
import { tooFewModel, trendFinding } from './washer.ts';

const SPECS: FeatureSpec[] = [
  { name: 'i.door', measurement: 'fridge_state', agg: 'sum', field: 'door_openings' },
  { name: 'i.temp', measurement: 'fridge_state', agg: 'mean', field: 'temp_c' },
  { name: 'i.duty', measurement: 'fridge_state', agg: 'mean', field: 'compressor_duty' },
];

export const FRIDGE_BANDS = ['under 40 door openings a day', '40–70 a day', '70 a day or more'] as const;
const PER = { label: '1,000 days', scale: 1000 };

class ModelAcc {
  devices = 0;
  readonly door = new Histogram([20, 40, 70, 100], ['under 20', '20–40', '40–70', '70–100', '100 or more']);
  readonly doorSeason = new Means();
  readonly tempSeason = new Means();
  readonly dutySeason = new Means();
  readonly doorMonth = new Means();
  readonly dutyMonth = new Means();
  readonly errors = new ErrorRates(FRIDGE_BANDS);
}

/** Mean of a device's daily values per label (season, month). */
function meansBy(a: Float64Array | undefined, startMs: number, label: (ms: number) => string): Map<string, number> {
  const acc = new Map<string, { s: number; n: number }>();
  a?.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    const l = label(startMs + i * 86_400_000);
    const x = acc.get(l) ?? { s: 0, n: 0 };
    x.s += v;
    x.n++;
    acc.set(l, x);
  });
  return new Map([...acc].map(([l, x]) => [l, x.s / x.n]));
}

export class FridgeInsights implements KindInsights {
  readonly kind = 'fridge';
  readonly readings = { measurement: 'fridge_state', field: 'temp_c' };
  readonly specs = SPECS;
  readonly per = PER;
  private readonly models = new Map<string, ModelAcc>();

  modelRate(model: string): RateAcc | undefined {
    return this.models.get(model)?.errors.model;
  }

  pooled(): { rates: ErrorRates; topBand: string } {
    const rates = new ErrorRates(FRIDGE_BANDS);
    for (const m of this.models.values()) rates.mergeUsage(m.errors);
    return { rates, topBand: FRIDGE_BANDS[2] };
  }

  add(d: DeviceData): void {
    const door = d.series.daily.get('i.door')!;
    const days = [...d.series.daily.get('i.temp')!].filter(Number.isFinite).length;
    if (days === 0) return;
    const m = this.models.get(d.device.model) ?? new ModelAcc();
    this.models.set(d.device.model, m);
    m.devices++;
    const faults = faultsOf(d.series.events);
    const perDay = total(door) / days;
    m.door.add(perDay);
    const start = d.series.startMs;
    for (const [s, v] of meansBy(door, start, seasonOf)) m.doorSeason.add(s, v);
    for (const [s, v] of meansBy(d.series.daily.get('i.temp'), start, seasonOf)) m.tempSeason.add(s, v);
    for (const [s, v] of meansBy(d.series.daily.get('i.duty'), start, seasonOf)) m.dutySeason.add(s, 100 * v);
    for (const [mo, v] of meansBy(door, start, monthOf)) m.doorMonth.add(mo, v);
    for (const [mo, v] of meansBy(d.series.daily.get('i.duty'), start, monthOf)) m.dutyMonth.add(mo, 100 * v);
    const band = perDay >= 70 ? FRIDGE_BANDS[2] : perDay >= 40 ? FRIDGE_BANDS[1] : FRIDGE_BANDS[0];
    m.errors.add(d.firmware, faults.length, days, { [band]: [faults.length, days] });
    const daysByMonth = new Map<string, number>();
    d.series.daily.get('i.temp')!.forEach((v, i) => {
      if (Number.isFinite(v)) {
        const mo = monthOf(start + i * 86_400_000);
        daysByMonth.set(mo, (daysByMonth.get(mo) ?? 0) + 1);
      }
    });
    for (const [mo, n] of daysByMonth) m.errors.addMonth(mo, faults.filter((e) => monthOf(e.timeMs) === mo).length, n);
  }

  finish(c: Ctx, catalogue: Catalogue): ModelInsight[] {
    return [...this.models.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, m]) => {
      const model = catalogue.get(id);
      const base = { kind: 'fridge', model: id, ...(model ? { name: model.name, capacity: `${Number(model.volume_l)} l` } : {}) };
      if (m.devices < c.minDevices) return tooFewModel(base);
      const usage: InsightChart[] = [
        m.door.chart('door', 'Door openings a day', 'door openings a day', c),
        m.doorSeason.chart('door-season', 'bars', 'Door openings a day by season', 'season', 'openings a day', SEASONS, c),
        m.tempSeason.chart('temp-season', 'bars', 'Compartment temperature by season', 'season', '°C', SEASONS, c, 2),
        m.dutySeason.chart('duty-season', 'bars', 'Compressor duty by season', 'season', '% of the time', SEASONS, c),
      ];
      const findings: Array<string | null> = [];
      const summer = usage[3].cells.find((x) => x.label === 'summer');
      const winter = usage[3].cells.find((x) => x.label === 'winter');
      if (summer && winter && !summer.tooFew && !winter.tooFew) findings.push(`The compressor runs ${fmt(summer.value!)}% of the time in summer against ${fmt(winter.value!)}% in winter.`);
      const afterSales = m.errors.view(PER, FRIDGE_BANDS[2], c);
      const top = afterSales.comparisons[0];
      if (!top.tooFew && top.differs && top.ratio! > 1) findings.push(`Faults concentrate in busy households: fridges opened 70 times a day or more report ${fmt(top.ratio!, 2)}× the errors of the rest (${Math.round(c.level * 100)}% CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`);
      for (const cmp of afterSales.comparisons.slice(1)) {
        if (!cmp.tooFew && cmp.differs && cmp.ratio! > 1) findings.push(`${cmp.a[0].toUpperCase()}${cmp.a.slice(1)} faults more: ${fmt(cmp.ratio!, 2)}× the errors of the other versions (${Math.round(c.level * 100)}% CI for all versions together, ${fmt(cmp.lower!, 2)}–${fmt(cmp.upper!, 2)}×).`);
      }
      const months = [...m.doorMonth.acc.keys()].sort();
      const trends: InsightChart[] = [
        m.doorMonth.chart('trend-door', 'line', 'Door openings a day, month by month', 'month', 'openings a day', months, c),
        m.dutyMonth.chart('trend-duty', 'line', 'Compressor duty, month by month', 'month', '% of the time', months, c),
        { id: 'trend-errors', type: 'line', title: 'Errors per 1,000 days, month by month', unit: 'errors per 1,000 days', x: 'month', cells: months.map((mo) => { const r = m.errors.months.get(mo)?.view('model', mo, PER.label, PER.scale, c); return !r || r.tooFew ? tooFewCell(mo) : cell(mo, r.rate!, r.devices!, c, 2); }) },
      ];
      findings.push(trendFinding('door openings a day', trends[0]));
      return { ...base, devices: m.devices, tooFew: false, findings: findings.filter(told), usage, afterSales, opportunities: { rarePrograms: [] }, trends };
    });
  }
}
