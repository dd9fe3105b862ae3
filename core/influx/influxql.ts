import { UsageGatewayError } from '../../protocol/errors.ts';
import { classifyInfluxError, InfluxServerError } from './errors.ts';
import type { InfluxOptions } from './options.ts';

export interface StatementResult {
  statement_id?: number;
  error?: string;
  series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
}

/**
 * InfluxQL reads quoted identifiers and string literals alike: a backslash escapes the quote
 * and itself, `\n` stands for a newline, and a raw newline is refused ("bad string").
 */
const quote = (s: string, q: '"' | "'") => `${q}${s.replace(q === '"' ? /["\\\n]/g : /['\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}${q}`;

/** Quotes an identifier (measurement, retention policy, database) for InfluxQL. */
export const ident = (s: string) => quote(s, '"');

/** Quotes a string literal (tag value) for InfluxQL. */
export const literal = (s: string) => quote(s, "'");

/**
 * Runs InfluxQL statements with POST /query: the statements that change data (SELECT … INTO,
 * DROP SERIES, CREATE CONTINUOUS QUERY) are refused over GET. Rejects on the first statement
 * that InfluxDB answered with an error.
 */
export async function postQuery(opts: InfluxOptions, q: string): Promise<StatementResult[]> {
  const url = new URL('query', opts.url.endsWith('/') ? opts.url : `${opts.url}/`);
  const body = new URLSearchParams({ q, db: opts.database, epoch: 'ms' });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (opts.username) headers.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(Math.max(opts.requestTimeoutMs, 60_000)) });
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_INFLUX_UNAVAILABLE', `InfluxDB at ${opts.url} cannot be reached: ${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`);
  }
  const text = await res.text();
  let json: { results?: StatementResult[]; error?: string };
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageGatewayError('GW_ERR_INFLUX_UNAVAILABLE', `InfluxDB answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  const failed = json.error ?? json.results?.find((r) => r.error)?.error;
  if (failed || !res.ok) {
    const why = failed ?? `HTTP ${res.status}`;
    throw new InfluxServerError(classifyInfluxError(res.status, why), `InfluxDB refused "${q.slice(0, 120)}${q.length > 120 ? '…' : ''}": ${why}`, res.status);
  }
  return json.results ?? [];
}
