import type { Catalogue, Model } from '../../protocol/models.ts';
import type { InsightChart, ModelInsight } from '../../protocol/insights.ts';
import type { FeatureSpec } from '../detectors/index.ts';
import { cell, fmt, Histogram, Means, monthOf, RateAcc, told, tooFewCell, type Ctx } from './aggregate.ts';
import { daysPerMonth, ErrorRates, faultsOf, total, type DeviceData, type KindInsights } from './kind.ts';
import { tooFewModel, trendFinding } from './washer.ts';

const SPECS: FeatureSpec[] = [
  { name: 'i.km', measurement: 'car_trip', agg: 'sum', field: 'distance_km' },
  { name: 'i.s', measurement: 'car_trip', agg: 'sum', field: 'duration_s' },
  { name: 'i.night', measurement: 'car_trip', agg: 'sum', field: 'night_km' },
  { name: 'i.odo', measurement: 'car_trip', agg: 'max', field: 'odometer_km' },
  { name: 'i.soh', measurement: 'car_trip', agg: 'mean', field: 'battery_soh_pct' },
];

export const CAR_BANDS = ['under 500 km a month', '500–1,500 km a month', '1,500 km a month or more'] as const;
const PER = { label: '1,000 km', scale: 1000 };
const ODO_BANDS = ['under 20,000 km', '20,000–40,000 km', '40,000–60,000 km', '60,000–100,000 km', '100,000 km or more'] as const;
const ODO_EDGES = [20_000, 40_000, 60_000, 100_000];
const AGE_BANDS = ['under 1 year', '1–2 years', '2–4 years', '4 years or more'] as const;
const AGE_EDGES = [1, 2, 4];
const DAYS_PER_MONTH = 365.25 / 12;

const bandOf = (v: number, edges: number[], labels: readonly string[]) => {
  let i = 0;
  while (i < edges.length && v >= edges[i]) i++;
  return labels[i];
};

class ModelAcc {
  devices = 0;
  readonly kmMonth = new Histogram([300, 600, 1000, 1500, 2500], ['under 300', '300–600', '600–1,000', '1,000–1,500', '1,500–2,500', '2,500 or more']);
  readonly speed = new Histogram([30, 45, 60, 80], ['under 30', '30–45', '45–60', '60–80', '80 or more']);
  readonly night = new Histogram([5, 10, 20, 35], ['under 5%', '5–10%', '10–20%', '20–35%', '35% or more']);
  readonly sohByOdo = new Means();
  readonly sohByAge = new Means();
  readonly kmByMonth = new Means();
  readonly errors = new ErrorRates(CAR_BANDS);
}

export class CarInsights implements KindInsights {
  readonly kind = 'car';
  readonly readings = { measurement: 'car_trip', field: 'distance_km' };
  readonly specs = SPECS;
  readonly per = PER;
  private readonly models = new Map<string, ModelAcc>();

  constructor(private readonly nowMs: number) {}

  modelRate(model: string): RateAcc | undefined {
    return this.models.get(model)?.errors.model;
  }

  pooled(): { rates: ErrorRates; topBand: string } {
    const rates = new ErrorRates(CAR_BANDS);
    for (const m of this.models.values()) rates.mergeUsage(m.errors);
    return { rates, topBand: CAR_BANDS[2] };
  }

  add(d: DeviceData): void {
    const km = d.series.daily.get('i.km')!;
    const dist = total(km);
    if (dist <= 0) return;
    const m = this.models.get(d.device.model) ?? new ModelAcc();
    this.models.set(d.device.model, m);
    m.devices++;
    const faults = faultsOf(d.series.events);
    const perMonth = dist / (d.series.days / DAYS_PER_MONTH);
    m.kmMonth.add(perMonth);
    const hours = total(d.series.daily.get('i.s')) / 3600;
    if (hours > 0) m.speed.add(dist / hours);
    m.night.add((100 * total(d.series.daily.get('i.night'))) / dist);
    // Battery health: the device's last daily mean, against its last odometer and its age.
    const last = (a: Float64Array | undefined) => {
      if (a) for (let i = a.length - 1; i >= 0; i--) if (Number.isFinite(a[i])) return a[i];
      return NaN;
    };
    const soh = last(d.series.daily.get('i.soh'));
    if (Number.isFinite(soh)) {
      const odo = last(d.series.daily.get('i.odo'));
      if (Number.isFinite(odo)) m.sohByOdo.add(bandOf(odo, ODO_EDGES, ODO_BANDS), soh);
      if (d.device.registeredAt) m.sohByAge.add(bandOf((this.nowMs - Date.parse(d.device.registeredAt)) / (365.25 * 86_400_000), AGE_EDGES, AGE_BANDS), soh);
    }
    const band = perMonth >= 1500 ? CAR_BANDS[2] : perMonth >= 500 ? CAR_BANDS[1] : CAR_BANDS[0];
    m.errors.add(d.firmware, faults.length, dist, { [band]: [faults.length, dist] });
    const dpm = daysPerMonth(d.series.startMs, d.series.days);
    const kmPerMonth = new Map<string, number>();
    km.forEach((v, i) => {
      if (Number.isFinite(v)) {
        const mo = monthOf(d.series.startMs + i * 86_400_000);
        kmPerMonth.set(mo, (kmPerMonth.get(mo) ?? 0) + v);
      }
    });
    for (const [mo, v] of kmPerMonth) {
      m.kmByMonth.add(mo, (v / dpm.get(mo)!) * DAYS_PER_MONTH);
      m.errors.addMonth(mo, faults.filter((e) => monthOf(e.timeMs) === mo).length, v);
    }
  }

  finish(c: Ctx, catalogue: Catalogue): ModelInsight[] {
    return [...this.models.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, m]) => {
      const model = catalogue.get(id);
      const base = { kind: 'car', model: id, ...(model ? { name: model.name, capacity: capacityOf(model) } : {}) };
      if (m.devices < c.minDevices) return tooFewModel(base);
      const usage: InsightChart[] = [
        m.kmMonth.chart('km-month', 'Distance a month', 'km a month', c),
        m.speed.chart('speed', 'Average speed', 'km/h', c),
        m.night.chart('night', 'Share of the distance driven at night', 'night share', c),
      ];
      if (m.sohByOdo.acc.size > 0) usage.push(m.sohByOdo.chart('soh-distance', 'line', 'Battery health against distance', 'odometer', '% state of health', ODO_BANDS, c));
      if (m.sohByAge.acc.size > 0) usage.push(m.sohByAge.chart('soh-age', 'line', 'Battery health against age', 'age', '% state of health', AGE_BANDS, c));
      const findings: Array<string | null> = [];
      const afterSales = m.errors.view(PER, CAR_BANDS[2], c);
      const top = afterSales.comparisons[0];
      if (!top.tooFew && top.differs && top.ratio! > 1) findings.push(`Faults concentrate in heavy use: cars driven 1,500 km a month or more report ${fmt(top.ratio!, 2)}× the trouble codes per 1,000 km of the rest (${Math.round(c.level * 100)}% CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`);
      for (const cmp of afterSales.comparisons.slice(1)) {
        if (!cmp.tooFew && cmp.differs && cmp.ratio! > 1) findings.push(`${cmp.a[0].toUpperCase()}${cmp.a.slice(1)} faults more: ${fmt(cmp.ratio!, 2)}× the trouble codes per 1,000 km of the other versions (${Math.round(c.level * 100)}% CI for all versions together, ${fmt(cmp.lower!, 2)}–${fmt(cmp.upper!, 2)}×).`);
      }
      const months = [...m.kmByMonth.acc.keys()].sort();
      const trends: InsightChart[] = [
        m.kmByMonth.chart('trend-km', 'line', 'Distance a month, month by month', 'month', 'km a month', months, c, 0),
        { id: 'trend-errors', type: 'line', title: 'Trouble codes per 1,000 km, month by month', unit: 'per 1,000 km', x: 'month', cells: months.map((mo) => { const r = m.errors.months.get(mo)?.view('model', mo, PER.label, PER.scale, c); return !r || r.tooFew ? tooFewCell(mo) : cell(mo, r.rate!, r.devices!, c, 2); }) },
      ];
      findings.push(trendFinding('distance a month', trends[0]));
      return { ...base, devices: m.devices, tooFew: false, findings: findings.filter(told), usage, afterSales, opportunities: { rarePrograms: [] }, trends };
    });
  }
}

function capacityOf(m: Model): string {
  const parts = [String(m.powertrain ?? '')];
  if (m.battery_kwh) parts.push(`${m.battery_kwh} kWh`);
  if (m.tank_l) parts.push(`${m.tank_l} l tank`);
  return parts.filter(Boolean).join(', ');
}
