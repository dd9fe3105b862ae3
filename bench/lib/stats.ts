import { build, type Histogram } from 'hdr-histogram-js';

/** Latencies in microseconds, 1 µs to 10 min, 3 significant digits. */
export function histogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles in milliseconds (null when nothing was recorded). */
export function percentiles(h: Histogram): Percentiles | null {
  if (h.totalCount === 0) return null;
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { count: h.totalCount, p50: ms(h.getValueAtPercentile(50)), p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue) };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
