import { TOO_FEW, type InsightCell, type InsightChart, type InsightComparison, type InsightRate } from '../../protocol/insights.ts';
import { poissonBounds, wilson, zOf } from '../detectors/stats.ts';

/**
 * The accumulators of the insight report: each holds sums over devices (never a device's own
 * figures), so that its memory does not grow with the fleet; each turns into cells that carry no
 * figure when fewer than `minDevices` devices stand behind them.
 */

export interface Ctx {
  minDevices: number;
  /** Two-sided confidence level of the intervals, e.g. 0.95. */
  level: number;
}

export const round = (v: number, digits = 1) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

export const tooFewCell = (label: string): InsightCell => ({ label, value: null, devices: null, tooFew: true });

export function cell(label: string, value: number, devices: number, c: Ctx, digits = 1): InsightCell {
  if (devices < c.minDevices || !Number.isFinite(value)) return tooFewCell(label);
  return { label, value: round(value, digits), devices, tooFew: false };
}

/** A count of devices per bin of one per-device figure (the distribution across owners). */
export class Histogram {
  readonly counts: number[];
  total = 0;

  /** `edges`: the lower bound of each bin after the first (ascending); `labels`: one per bin. */
  constructor(readonly edges: readonly number[], readonly labels: readonly string[]) {
    this.counts = new Array(labels.length).fill(0);
  }

  add(v: number): void {
    if (!Number.isFinite(v)) return;
    let i = 0;
    while (i < this.edges.length && v >= this.edges[i]) i++;
    this.counts[i]++;
    this.total++;
  }

  /** Share of devices per bin (%), each bin shown only when it holds minDevices devices. */
  chart(id: string, title: string, x: string, c: Ctx): InsightChart {
    return { id, type: 'bars', title, unit: '% of owners', x, cells: this.labels.map((l, i) => cell(l, this.total ? (100 * this.counts[i]) / this.total : NaN, this.counts[i], c)) };
  }
}

/** Shares of a total (washes per program, per load band): the events and the devices behind each part. */
export class Shares {
  private readonly parts = new Map<string, { n: number; devices: number }>();
  total = 0;

  constructor(readonly labels: readonly string[]) {
    for (const l of labels) this.parts.set(l, { n: 0, devices: 0 });
  }

  /** One device's counts per part. */
  addDevice(counts: Record<string, number>): void {
    for (const [l, n] of Object.entries(counts)) {
      const p = this.parts.get(l);
      if (!p || !(n > 0)) continue;
      p.n += n;
      p.devices++;
      this.total += n;
    }
  }

  share(label: string): number {
    return this.total ? (100 * (this.parts.get(label)?.n ?? 0)) / this.total : NaN;
  }

  devices(label: string): number {
    return this.parts.get(label)?.devices ?? 0;
  }

  chart(id: string, title: string, x: string, unit: string, c: Ctx): InsightChart {
    return { id, type: 'bars', title, unit, x, cells: this.labels.map((l) => cell(l, this.share(l), this.devices(l), c)) };
  }
}

/** A mean across devices of one per-device figure, per label (season, month, distance band). */
export class Means {
  readonly acc = new Map<string, { sum: number; devices: number }>();

  add(label: string, v: number): void {
    if (!Number.isFinite(v)) return;
    const a = this.acc.get(label) ?? { sum: 0, devices: 0 };
    a.sum += v;
    a.devices++;
    this.acc.set(label, a);
  }

  mean(label: string): number {
    const a = this.acc.get(label);
    return a && a.devices ? a.sum / a.devices : NaN;
  }

  devices(label: string): number {
    return this.acc.get(label)?.devices ?? 0;
  }

  chart(id: string, type: 'bars' | 'line', title: string, x: string, unit: string, labels: readonly string[], c: Ctx, digits = 1): InsightChart {
    return { id, type, title, unit, x, cells: labels.map((l) => cell(l, this.mean(l), this.devices(l), c, digits)) };
  }
}

/**
 * Events over an exposure (errors over washes, km or days), summed over devices. Alongside the
 * totals it keeps Σ events²/exposure, from which the spread between devices is known: errors
 * cluster on a few devices (one fault repeats), so a plain Poisson interval would be too narrow;
 * the interval is widened by the overdispersion (quasi-Poisson).
 */
export class RateAcc {
  events = 0;
  exposure = 0;
  devices = 0;
  private s2 = 0;

  add(events: number, exposure: number): void {
    if (!(exposure > 0)) return;
    this.events += events;
    this.exposure += exposure;
    this.devices++;
    this.s2 += (events * events) / exposure;
  }

  /** Adds another accumulator's sums (over other devices). */
  merge(b: RateAcc): this {
    this.events += b.events;
    this.exposure += b.exposure;
    this.devices += b.devices;
    this.s2 += b.s2;
    return this;
  }

  /** Pearson χ² over devices / (devices − 1), at least 1. */
  dispersion(): number {
    if (this.events === 0 || this.devices < 2) return 1;
    const r = this.events / this.exposure;
    const chi2 = this.s2 / r - this.events;
    return Math.max(1, chi2 / (this.devices - 1));
  }

  rate(): number {
    return this.exposure > 0 ? this.events / this.exposure : NaN;
  }

  /** The rate per `scale` units of exposure with its interval. */
  view(group: InsightRate['group'], label: string, per: string, scale: number, c: Ctx): InsightRate {
    if (this.devices < c.minDevices) return { group, label, per, events: null, exposure: null, devices: null, rate: null, lower: null, upper: null, tooFew: true };
    const z = zOf(1 - (1 - c.level) / 2);
    const r = this.rate();
    const phi = this.dispersion();
    let lower = 0;
    let upper: number;
    if (this.events > 0) {
      const se = Math.sqrt(phi / this.events);
      lower = r * Math.exp(-z * se);
      upper = r * Math.exp(z * se);
    } else {
      upper = (poissonBounds(0, 1 - (1 - c.level) / 2).upper * phi) / this.exposure;
    }
    return {
      group, label, per, events: this.events, exposure: round(this.exposure, 1), devices: this.devices,
      rate: round(r * scale, 3), lower: round(lower * scale, 3), upper: round(upper * scale, 3), tooFew: false,
    };
  }
}

/** How many times a's rate is b's, with a log-normal interval widened by each side's overdispersion. */
export function compare(title: string, a: { label: string; acc: RateAcc }, b: { label: string; acc: RateAcc }, c: Ctx): InsightComparison {
  if (a.acc.devices < c.minDevices || b.acc.devices < c.minDevices || !(a.acc.exposure > 0) || !(b.acc.exposure > 0)) {
    return { title, a: a.label, b: b.label, ratio: null, lower: null, upper: null, differs: null, tooFew: true };
  }
  // Half an event where there is none, so that the ratio and its interval stay finite.
  const ea = a.acc.events || 0.5;
  const eb = b.acc.events || 0.5;
  const ratio = ea / a.acc.exposure / (eb / b.acc.exposure);
  const se = Math.sqrt(a.acc.dispersion() / ea + b.acc.dispersion() / eb);
  const z = zOf(1 - (1 - c.level) / 2);
  const lower = ratio * Math.exp(-z * se);
  const upper = ratio * Math.exp(z * se);
  return { title, a: a.label, b: b.label, ratio: round(ratio, 2), lower: round(lower, 2), upper: round(upper, 2), differs: lower > 1 || upper < 1, tooFew: false };
}

/** A share (0–100) with its two-sided Wilson interval. */
export function shareOf(k: number, n: number, c: Ctx): { share: number; lower: number; upper: number } {
  const w = wilson(k, n, 1 - (1 - c.level) / 2);
  return { share: round((100 * k) / n), lower: round(100 * w.lower), upper: round(100 * w.upper) };
}

/** `2026-08` of a day's epoch ms. */
export const monthOf = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/** Meteorological seasons of the northern hemisphere, by UTC month. */
export const SEASONS = ['winter', 'spring', 'summer', 'autumn'] as const;
export function seasonOf(ms: number): (typeof SEASONS)[number] {
  const m = new Date(ms).getUTCMonth();
  return m === 11 || m < 2 ? 'winter' : m < 5 ? 'spring' : m < 8 ? 'summer' : 'autumn';
}

/** Findings that had too few devices behind them are not told. */
export const told = (text: string | null): text is string => text !== null && !text.includes(TOO_FEW);

export const fmt = (v: number, digits = 1) => (Number.isInteger(round(v, digits)) ? String(round(v, digits)) : round(v, digits).toFixed(digits));
