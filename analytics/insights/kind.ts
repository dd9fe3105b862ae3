import type { Catalogue, Model } from '../../protocol/models.ts';
import type { ModelInsight } from '../../protocol/insights.ts';
import type { DeviceInfo, DeviceSeries, FeatureSpec } from '../detectors/index.ts';
import { compare, monthOf, RateAcc, type Ctx } from './aggregate.ts';

/** One device's data as a kind's insights see it: its daily features and, when asked, its counts per tag value. */
export interface DeviceData {
  device: DeviceInfo;
  model: Model | undefined;
  series: DeviceSeries;
  /** Readings per value of `byTag` over the period (washes per program). */
  tagCounts: Record<string, number>;
  /** The firmware version it reported most readings with in the period (the `firmware` tag), if any. */
  firmware?: string;
}

/** A count of readings per device and tag value over the whole period (one InfluxQL query per page). */
export interface TagCount {
  measurement: string;
  field: string;
  tag: string;
}

/** The insights of one device kind: the daily features it reads, and per model the sums it keeps. */
export interface KindInsights {
  readonly kind: string;
  /** The measurement and a field every reading of it has (to count readings per firmware version). */
  readonly readings: { measurement: string; field: string };
  readonly specs: FeatureSpec[];
  readonly byTag?: TagCount;
  add(d: DeviceData): void;
  finish(c: Ctx, catalogue: Catalogue): ModelInsight[];
  /** Error accumulator of a model over the period (for comparisons across models of the kind). */
  modelRate(model: string): RateAcc | undefined;
  /** Every model's error sums by usage band, pooled; and the band compared with the rest. */
  pooled(): { rates: ErrorRates; topBand: string };
  /** What the rate is per, and its scale: `100 washes`, 100. */
  readonly per: { label: string; scale: number };
}

/** Reports of one code on one device less than this apart belong to the same fault. */
export const INCIDENT_GAP_MS = 7 * 86_400_000;

/**
 * The faults of a device: its error events, a code that keeps coming back counted once (until it
 * has been quiet for INCIDENT_GAP_MS). After-sales counts faults, not reports: a drain pump that
 * blocks on every wash for a month is one repair, and would otherwise outweigh a hundred devices.
 * Returns the time of each fault's first report.
 */
export function faultsOf(events: ReadonlyArray<{ timeMs: number; code: string }>): Array<{ timeMs: number }> {
  const last = new Map<string, number>();
  const out: Array<{ timeMs: number }> = [];
  for (const e of [...events].sort((a, b) => a.timeMs - b.timeMs)) {
    const prev = last.get(e.code);
    if (prev === undefined || e.timeMs - prev >= INCIDENT_GAP_MS) out.push({ timeMs: e.timeMs });
    last.set(e.code, e.timeMs);
  }
  return out;
}

/** The months [startMs, startMs + days) spans, as `2026-08`. */
export function monthsOf(startMs: number, days: number): string[] {
  const out: string[] = [];
  for (let d = 0; d < days; d++) {
    const m = monthOf(startMs + d * 86_400_000);
    if (out[out.length - 1] !== m) out.push(m);
  }
  return out;
}

/** Days of each month within the period (a partial month at either end counts only its days). */
export function daysPerMonth(startMs: number, days: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let d = 0; d < days; d++) {
    const m = monthOf(startMs + d * 86_400_000);
    out.set(m, (out.get(m) ?? 0) + 1);
  }
  return out;
}

/** Sum of a feature's days, NaN-free; and per month. */
export function total(a: Float64Array | undefined): number {
  let s = 0;
  if (a) for (const v of a) if (Number.isFinite(v)) s += v;
  return s;
}

/** The rate accumulators every kind keeps: per usage band, per firmware version, per month, overall. */
export class ErrorRates {
  readonly model = new RateAcc();
  readonly bands = new Map<string, RateAcc>();
  readonly firmware = new Map<string, RateAcc>();
  readonly months = new Map<string, RateAcc>();

  constructor(readonly bandLabels: readonly string[]) {
    for (const b of bandLabels) this.bands.set(b, new RateAcc());
  }

  /**
   * One device: its events and exposure over the period, and per usage band its [events,
   * exposure] (a device may fall in one band, or spread over several).
   */
  add(firmware: string | undefined, events: number, exposure: number, bands: Record<string, number[]>): void {
    this.model.add(events, exposure);
    for (const [b, [e, x]] of Object.entries(bands)) this.bands.get(b)?.add(e, x);
    if (firmware) {
      const acc = this.firmware.get(firmware) ?? new RateAcc();
      acc.add(events, exposure);
      this.firmware.set(firmware, acc);
    }
  }

  /** Adds another model's sums by usage band (firmware versions are a model's own, and stay apart). */
  mergeUsage(o: ErrorRates): void {
    this.model.merge(o.model);
    for (const [b, acc] of o.bands) this.bands.get(b)?.merge(acc);
  }

  addMonth(month: string, events: number, exposure: number): void {
    const acc = this.months.get(month) ?? new RateAcc();
    acc.add(events, exposure);
    this.months.set(month, acc);
  }

  /** Rates (model, bands, firmware) and comparisons: the top band against the rest, each firmware version against the others. */
  view(per: { label: string; scale: number }, topBand: string, c: Ctx): ModelInsight['afterSales'] {
    const rates = [
      this.model.view('model', 'all', per.label, per.scale, c),
      ...this.bandLabels.map((b) => this.bands.get(b)!.view('usage', b, per.label, per.scale, c)),
      ...[...this.firmware.keys()].sort().map((f) => this.firmware.get(f)!.view('firmware', `firmware ${f}`, per.label, per.scale, c)),
    ];
    const rest = new RateAcc();
    for (const [b, acc] of this.bands) if (b !== topBand) rest.merge(acc);
    const comparisons = [compare(`errors per ${per.label}: ${topBand} against the rest`, { label: topBand, acc: this.bands.get(topBand)! }, { label: 'the rest', acc: rest }, c)];
    if (this.firmware.size > 1) {
      for (const [f, acc] of [...this.firmware].sort(([a], [b]) => a.localeCompare(b))) {
        const others = new RateAcc();
        for (const [g, o] of this.firmware) if (g !== f) others.merge(o);
        // Each version is compared with the others: the interval is widened for the number of
        // versions (Bonferroni), so that a model with many releases does not flag one by chance.
        const wide = { ...c, level: 1 - (1 - c.level) / this.firmware.size };
        comparisons.push(compare(`errors per ${per.label}: firmware ${f} against the other versions (${Math.round(c.level * 100)}% for all ${this.firmware.size} versions together)`, { label: `firmware ${f}`, acc }, { label: 'other versions', acc: others }, wide));
      }
    }
    return { rates, comparisons };
  }
}
