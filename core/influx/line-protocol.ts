import type { FieldType } from '../../protocol/reading-def.ts';

// Escaping rules of the InfluxDB line protocol. They run for every tag and string field of every
// reading and almost never find anything to escape: a test first is several times cheaper than a
// replace that finds nothing.
const MEASUREMENT_SPECIAL = /[\\, ]/;
const TAG_SPECIAL = /[\\,= ]/;
const STRING_SPECIAL = /[\\"]/;
export const escMeasurement = (s: string) => (MEASUREMENT_SPECIAL.test(s) ? s.replace(/[\\, ]/g, (c) => `\\${c}`) : s);
export const escTag = (s: string) => (TAG_SPECIAL.test(s) ? s.replace(/[\\,= ]/g, (c) => `\\${c}`) : s);
/** A string field value of line protocol: quoted, with `\\` and `"` escaped. */
export const escString = (s: string) => `"${STRING_SPECIAL.test(s) ? s.replace(/[\\"]/g, (c) => `\\${c}`) : s}"`;

const NL = 0x0a;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/**
 * The lines of a line-protocol body, cut where InfluxDB cuts them: at a newline outside a
 * quoted string field value. A string field keeps a device's newlines raw (InfluxDB 1.x stores
 * a raw newline between the quotes as it is, and has no escape for one: `\n` is stored as a
 * backslash and an n), so a plain split on '\n' would cut such a point in two. The rules are
 * InfluxDB's own scanner's: a backslash escapes the next character anywhere; a quote counts only
 * in the field set, where it opens a field's value (more '=' than ',' seen) or closes it; quotes
 * in the measurement, tags and field keys are plain characters.
 */
export function splitLines(body: string): string[] {
  const lines: string[] = [];
  let start = 0;
  let fields = false;
  let quoted = false;
  let equals = 0;
  let commas = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === NL && !quoted) {
      lines.push(body.slice(start, i));
      start = i + 1;
      fields = false;
      equals = commas = 0;
    } else if (c === SPACE) fields = true;
    else if (!fields) continue;
    else if (c === QUOTE && equals > commas) quoted = !quoted;
    else if (quoted) continue;
    else if (c === EQUALS) equals++;
    else if (c === COMMA) commas++;
  }
  lines.push(body.slice(start));
  return lines;
}

export function formatField(type: FieldType, value: unknown): string {
  switch (type) {
    case 'int':
      return `${Math.trunc(value as number)}i`;
    case 'float': {
      const n = value as number;
      return Number.isFinite(n) ? String(n) : '0';
    }
    case 'bool':
      return value ? 'true' : 'false';
    default:
      return escString(String(value));
  }
}

export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, { type: FieldType; value: unknown }>;
  /** Nanoseconds since the epoch, as a decimal string (beyond 2^53). */
  timeNs: string;
}

/** One line of line protocol; tags sorted by key as InfluxDB recommends. */
export function formatPoint(p: Point): string {
  const tags = Object.keys(p.tags)
    .filter((k) => p.tags[k] !== '')
    .sort()
    .map((k) => `,${escTag(k)}=${escTag(p.tags[k])}`)
    .join('');
  const fields = Object.entries(p.fields)
    .filter(([, f]) => f.value !== undefined && f.value !== null)
    .map(([k, f]) => `${escTag(k)}=${formatField(f.type, f.value)}`)
    .join(',');
  return `${escMeasurement(p.measurement)}${tags} ${fields} ${p.timeNs}`;
}

/** ms → ns with a sub-millisecond offset (0…999,999) that tells apart readings of the same ms. */
export function timeNs(timeMs: number, subMs: number): string {
  return `${Math.trunc(timeMs)}${String(subMs % 1_000_000).padStart(6, '0')}`;
}
