import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** The provisioned datasource, as Grafana reads it. */
export function provisionedDatasource(): { uid: string; type: string; jsonData: Record<string, unknown>; secureJsonData?: Record<string, string> } {
  const doc = parseYaml(readFileSync(new URL('../provisioning/datasources/influxdb.yaml', import.meta.url), 'utf8')) as { datasources: any[] };
  return doc.datasources[0];
}

export interface TimeRange {
  from: number;
  to: number;
}

/** Grafana's relative times: now-30d, now-6h, now. */
export function parseRelative(expr: string, now: number): number {
  if (expr === 'now') return now;
  const m = /^now-(\d+)([smhdwy])$/.exec(expr);
  if (!m) throw new Error(`unsupported relative time ${expr}`);
  const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31_536e6 }[m[2] as 's']!;
  return now - Number(m[1]) * unit;
}

export function durationMs(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(s);
  if (!m) throw new Error(`unsupported duration ${s}`);
  return Number(m[1]) * { ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, y: 31_536e6 }[m[2] as 's']!;
}

const NICE = ['1s', '2s', '5s', '10s', '15s', '20s', '30s', '1m', '2m', '5m', '10m', '15m', '20m', '30m', '1h', '2h', '3h', '6h', '12h', '1d', '7d', '30d'];

/** $__interval as Grafana computes it: range over the data points, rounded, never below the minimum. */
export function interval(range: TimeRange, minInterval: string | undefined, maxDataPoints = 1000): string {
  const raw = (range.to - range.from) / maxDataPoints;
  const min = minInterval ? durationMs(minInterval) : 0;
  return NICE.find((n) => durationMs(n) >= Math.max(raw, min)) ?? '30d';
}

const escapeRegex = (s: string) => s.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');

export interface VariableValue {
  values: string[];
  all: boolean;
  allValue?: string;
  multi: boolean;
}

/** Fills a query as Grafana's InfluxDB datasource does (regex formatting for multi-value variables). */
export function interpolate(query: string, vars: Record<string, VariableValue>, range: TimeRange, intervalStr: string): string {
  return query
    .replaceAll('$timeFilter', `time >= ${range.from}ms and time <= ${range.to}ms`)
    .replaceAll('$__interval_ms', String(durationMs(intervalStr)))
    .replaceAll('$__interval', intervalStr)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
      const name = (a ?? b)!;
      const v = vars[name];
      if (!v) return whole;
      if (v.all && v.allValue) return v.allValue;
      if (v.multi || v.all) return v.values.length === 1 ? escapeRegex(v.values[0]) : `(${v.values.map(escapeRegex).join('|')})`;
      return v.values[0] ?? '';
    });
}

/** Variables Grafana provides itself; anything else a query uses must be a dashboard variable. */
export const BUILTIN_VARIABLES = new Set(['timeFilter', '__interval', '__interval_ms', '__timeFilter', '__range', '__range_ms', '__from', '__to']);

export function referencedVariables(text: string): string[] {
  return [...text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g)].map((m) => (m[1] ?? m[2])!).filter((n) => !BUILTIN_VARIABLES.has(n));
}

export interface Series {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Runs InfluxQL through /query as Grafana's proxy does (GET, with the provisioned header). */
export async function runQuery(url: string, db: string, q: string, headers: Record<string, string> = {}): Promise<Series[]> {
  const u = new URL('/query', url);
  u.searchParams.set('db', db);
  u.searchParams.set('q', q);
  u.searchParams.set('epoch', 'ms');
  const res = await fetch(u, { headers });
  const body = (await res.json()) as { results?: Array<{ error?: string; series?: Series[] }>; error?: string };
  const error = body.error ?? body.results?.find((r) => r.error)?.error;
  if (error || !res.ok) throw new Error(`${error ?? `HTTP ${res.status}`} in: ${q}`);
  return body.results?.[0]?.series ?? [];
}

/** Whether a result holds at least one value other than time (a null-filled frame is no data). */
export function hasData(series: Series[]): boolean {
  return series.some((s) => s.values.some((row) => row.some((v, i) => s.columns[i] !== 'time' && v !== null && v !== undefined)));
}
