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
  const p = Float64Array.from(present(values));
  if (p.length === 0) return NaN;
  const mid = p.length >> 1;
  const hi = select(p, mid);
  if (p.length % 2) return hi;
  // The lower middle is the largest of what select left below mid.
  let lo = -Infinity;
  for (let i = 0; i < mid; i++) if (p[i] > lo) lo = p[i];
  return (lo + hi) / 2;
}

/** The k-th smallest value (0-based), rearranging `a` in place (Hoare's quickselect, median-of-three pivot). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    const pivot = Math.max(Math.min(a[lo], a[mid]), Math.min(Math.max(a[lo], a[mid]), a[hi]));
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
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

/** z of a one-sided confidence level (0.8 … 0.999), by Acklam's rational approximation of the normal quantile. */
export function zOf(level: number): number {
  const p = level;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628274631];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  if (p > 0.97575) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Wilson score bounds of a proportion k/n at a one-sided confidence level. */
export function wilson(k: number, n: number, level: number): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const z = zOf(level);
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * Bounds of a Poisson mean from an observed count (Wilson–Hilferty approximation of the exact
 * chi-square bounds), at a one-sided confidence level.
 */
export function poissonBounds(count: number, level: number): { lower: number; upper: number } {
  const z = zOf(level);
  const lower = count === 0 ? 0 : count * (1 - 1 / (9 * count) - z / (3 * Math.sqrt(count))) ** 3;
  const k = count + 1;
  const upper = k * (1 - 1 / (9 * k) + z / (3 * Math.sqrt(k))) ** 3;
  return { lower: Math.max(0, lower), upper };
}

/** Median absolute deviation, scaled to estimate a normal standard deviation (robust to outliers). */
export function robustSd(values: number[]): number {
  const p = present(values);
  if (p.length < 2) return NaN;
  const m = median(p);
  return 1.4826 * median(p.map((v) => Math.abs(v - m)));
}

/**
 * A robust line through the days that have data: the Theil–Sen slope (median of the pairwise
 * slopes, so a stuck or spiking reading does not drag it), the median intercept, the scatter of
 * the points around it and the standard error of the slope that scatter implies.
 */
export function robustTrend(values: number[]): { slope: number; intercept: number; sd: number; se: number; n: number } {
  const xs: number[] = [];
  const ys: number[] = [];
  values.forEach((v, i) => {
    if (!Number.isNaN(v)) {
      xs.push(i);
      ys.push(v);
    }
  });
  const n = xs.length;
  if (n < 3) return { slope: NaN, intercept: NaN, sd: NaN, se: NaN, n };
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
  const slope = median(slopes);
  const intercept = median(ys.map((y, i) => y - slope * xs[i]));
  const residuals = ys.map((y, i) => y - intercept - slope * xs[i]);
  // The larger of the robust and the plain scatter around the line: the robust one alone
  // understates skewed noise (and a trend is then "significant" by chance); never below a small
  // floor: a sensor stuck on one value has no scatter, and no certainty either.
  const plain = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / Math.max(1, n - 2));
  const sd = Math.max(robustSd(residuals), plain, 1e-9);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  return { slope, intercept, sd, se: sd / Math.sqrt(sxx), n };
}

/**
 * A continuous figure that repeats the very same value day after day is a stuck sensor, not a
 * measurement: those days are set aside (NaN), the first of the run kept.
 */
export function dropStuck(values: number[]): number[] {
  const out = [...values];
  let last = NaN;
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(values[i])) continue;
    if (values[i] === last) out[i] = NaN;
    last = values[i];
  }
  return out;
}

/** A confidence level in words: 0.9 → "90%", 0.99999 → "99.999%". */
export function levelText(level: number): string {
  let digits = 0;
  while (digits < 6 && Math.abs(Math.round(level * 100 * 10 ** digits) - level * 100 * 10 ** digits) > 1e-6) digits++;
  return `${(level * 100).toFixed(digits)}%`;
}

/** Least-squares slope per day over the days that have data: cheap, for a first look before a robust fit. */
export function olsSlope(values: number[]): number {
  return slopePerDay(values);
}
