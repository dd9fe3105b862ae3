/** Small numeric helpers over daily series, where NaN means "no data that day". */

export function slice(a: Float64Array, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = Math.max(0, from); i < Math.min(a.length, to); i++) out.push(a[i]);
  return out;
}

export function present(values: number[]): number[] {
  return values.filter((v) => !Number.isNaN(v));
}

export function sum(values: number[]): number {
  let s = 0;
  for (const v of values) if (!Number.isNaN(v)) s += v;
  return s;
}

export function mean(values: number[]): number {
  const p = present(values);
  return p.length === 0 ? NaN : sum(p) / p.length;
}

export function median(values: number[]): number {
  const p = present(values).sort((a, b) => a - b);
  if (p.length === 0) return NaN;
  const mid = p.length >> 1;
  return p.length % 2 ? p[mid] : (p[mid - 1] + p[mid]) / 2;
}

/** Least-squares slope per day over the days that have data (x = day index). */
export function slopePerDay(values: number[]): number {
  const pts = values.map((v, i) => [i, v] as const).filter(([, v]) => !Number.isNaN(v));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((s, [x]) => s + x, 0) / pts.length;
  const my = pts.reduce((s, [, y]) => s + y, 0) / pts.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** Days with data. */
export function activeDays(values: number[]): number {
  return values.filter((v) => !Number.isNaN(v) && v > 0).length;
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function pct(v: number): string {
  return `${Math.round(v * 100)}%`;
}
