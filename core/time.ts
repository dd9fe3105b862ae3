import { UsageGatewayError } from '../protocol/errors.ts';
import { parseDateOrTime } from '../protocol/time.ts';

export const SECOND_MS = 1_000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Start of the UTC day that holds `ms`. */
export function dayFloor(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Number of the UTC day that holds `ms` (days since 1970-01-01). */
export function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

const UNIT_MS: Record<string, number> = { s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS };

/**
 * The one reader of times given on a command line: `now`; a time before now as `now-6h`,
 * `-6h` or `now-90d` (units s, m, h, d, w; the notation of Grafana's time picker); an RFC 3339
 * time (`2026-03-01T12:00:00Z`); a date (`2026-03-01`, midnight UTC); or epoch milliseconds.
 * Anything else is a GW_ERR_USAGE naming the option.
 */
export function parseTime(raw: string, name: string, nowMs = Date.now()): number {
  const v = raw.trim();
  if (v === 'now') return nowMs;
  const rel = /^(?:now)?-(\d+(?:\.\d+)?)([smhdw])$/.exec(v);
  if (rel) return nowMs - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d{10,16}$/.test(v)) return Number(v);
  const r = parseDateOrTime(v);
  if (!r.ok) {
    throw new UsageGatewayError('GW_ERR_USAGE', `${name}: "${raw}" is not a time (${r.reason}); use a date (2026-03-01), an RFC 3339 time (2026-03-01T12:00:00Z), epoch milliseconds, "now" or a time before now such as "now-6h" or "-90d"`);
  }
  return r.ms;
}
