import { z } from 'zod';

/**
 * RFC 3339 date-times (section 5.6), parsed strictly. `Date.parse` is not used: it rolls
 * impossible dates over (`2026-02-30` becomes 2 March) and accepts forms RFC 3339 does not.
 * This is the one parser of RFC 3339 times in the project; readings' `ts` and every command
 * line or file that takes a time go through it.
 *
 * Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; `T` and `Z` may be lower case and `T`
 * may be a space (RFC 3339 section 5.6, note). The fraction has 1 to 9 digits and is cut to the
 * millisecond. A leap second (`:60`) is refused: epoch milliseconds have no place for it.
 */
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

export const RFC3339_EXAMPLE = '2026-01-31T18:04:05Z';
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_MS = 86_400_000;

export type TimeParse = { ok: true; ms: number } | { ok: false; reason: string };

export function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

export function daysInMonth(y: number, m: number): number {
  return m === 2 ? (isLeapYear(y) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function clip(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

function checkDate(y: number, m: number, d: number): string | undefined {
  if (m < 1 || m > 12) return `there is no month ${String(m).padStart(2, '0')} (01 to 12)`;
  const days = daysInMonth(y, m);
  if (d < 1 || d > days) return `${MONTHS[m - 1]} ${y} has ${days} days, there is no day ${String(d).padStart(2, '0')}`;
  return undefined;
}

function badTime(text: string, why: string): TimeParse {
  return { ok: false, reason: `${clip(text)} is not a valid time: ${why}` };
}

/**
 * Epoch milliseconds of an RFC 3339 date-time, or why it is not one, in words. Cars send their
 * `ts` in this form, so it runs for every such reading: no arrays or closures on the way.
 */
export function parseRfc3339(text: string): TimeParse {
  const m = RFC3339_RE.exec(text);
  if (!m) return { ok: false, reason: `expected an RFC 3339 time such as ${RFC3339_EXAMPLE}, got ${clip(text)}` };
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const s = Number(m[6]);
  const frac = m[7];
  const zulu = m[8];
  const sign = m[9];
  const oh = m[10];
  const om = m[11];
  const dateProblem = checkDate(y, mo, d);
  if (dateProblem) return badTime(text, dateProblem);
  if (h > 23) return badTime(text, `hour ${m[4]} is out of range (00 to 23)`);
  if (mi > 59) return badTime(text, `minute ${m[5]} is out of range (00 to 59)`);
  if (s === 60) return badTime(text, 'second 60 (a leap second) cannot be stored; send 59');
  if (s > 59) return badTime(text, `second ${m[6]} is out of range (00 to 59)`);
  if (frac !== undefined && frac.length > 9) return badTime(text, `the fraction of a second has ${frac.length} digits, at most 9 are allowed`);
  let offsetMin = 0;
  if (!zulu) {
    const ohn = Number(oh);
    const omn = Number(om);
    if (ohn > 23 || omn > 59) return badTime(text, `offset ${sign}${oh}:${om} is out of range (hours 00 to 23, minutes 00 to 59)`);
    offsetMin = (sign === '-' ? -1 : 1) * (ohn * 60 + omn);
  }
  const fracMs = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  const ms = daysFromCivil(y, mo, d) * DAY_MS + ((h * 60 + mi) * 60 + s) * 1000 + fracMs - offsetMin * 60_000;
  return { ok: true, ms };
}

/** Epoch milliseconds of a full date (`YYYY-MM-DD`, midnight UTC), or why it is not one. */
export function parseRfc3339Date(text: string): TimeParse {
  const m = DATE_RE.exec(text);
  if (!m) return { ok: false, reason: `expected a date such as 2026-01-31, got ${clip(text)}` };
  const [y, mo, d] = m.slice(1, 4).map(Number);
  const problem = checkDate(y, mo, d);
  if (problem) return { ok: false, reason: `${clip(text)} is not a valid date: ${problem}` };
  return { ok: true, ms: daysFromCivil(y, mo, d) * DAY_MS };
}

/** A full date (midnight UTC) or an RFC 3339 date-time, as epoch milliseconds: what command lines and files take. */
export function parseDateOrTime(text: string): TimeParse {
  return DATE_RE.test(text) ? parseRfc3339Date(text) : parseRfc3339(text);
}

/** The largest time a JavaScript Date holds (year 275760): epoch milliseconds beyond it are no time at all. */
export const MAX_EPOCH_MS = 8.64e15;

/** An RFC 3339 time string, checked and turned into epoch milliseconds. */
export const rfc3339Ms = z.string().transform((text, ctx) => {
  const r = parseRfc3339(text);
  if (r.ok) return r.ms;
  ctx.issues.push({ code: 'custom', message: r.reason, input: text });
  return z.NEVER;
});

/** Integer epoch milliseconds, each way of getting it wrong said in words. */
export const epochMs = z
  .number({ error: (iss) => (typeof iss.input === 'number' ? notFinite(iss.input) : undefined) })
  .min(0, { error: (iss) => `epoch milliseconds must be ≥ 0 (1970-01-01T00:00:00Z), got ${iss.input}` })
  .max(MAX_EPOCH_MS, { error: (iss) => `epoch milliseconds must be ≤ ${MAX_EPOCH_MS} (the last time a date can hold), got ${iss.input}` })
  .refine(Number.isInteger, { error: (iss) => `epoch milliseconds must be a whole number, got ${iss.input}` });

/** What a JSON number too large for a double (`1e309`, which JSON.parse reads as Infinity) is called. */
export function notFinite(n: number): string {
  return n < 0 ? 'number too large below zero (not finite)' : 'number too large (not finite)';
}
