/**
 * `key=value` lines, as firmware prints them with printf:
 *   type=cycle program=cotton load_kg=8.2 duration_s=3600 detail="door seal worn"
 * Pairs are separated by spaces or tabs; a value with spaces is double-quoted, with \" and
 * \\ inside. Values come out as strings; coerceValues() gives them their schema types.
 */

import type { FieldType } from '../../protocol/reading-def.ts';

export type KvResult = { ok: true; pairs: Record<string, string> } | { ok: false; reason: string };

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t';
}

export function parseKv(line: string): KvResult {
  const pairs: Record<string, string> = Object.create(null);
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && line[i] !== '=' && !isSpace(line[i])) i++;
    const key = line.slice(start, i);
    if (i >= n || line[i] !== '=') return { ok: false, reason: `"${clip(key)}" at column ${start + 1} is not a key=value pair` };
    if (!KEY_RE.test(key)) return { ok: false, reason: `"${clip(key)}" at column ${start + 1} is not a valid key (letters, digits, "_", ".", "-"; not starting with a digit)` };
    i++; // '='
    let value = '';
    if (line[i] === '"') {
      const open = i++;
      let closed = false;
      while (i < n) {
        const c = line[i];
        if (c === '\\' && i + 1 < n) {
          value += line[i + 1];
          i += 2;
        } else if (c === '"') {
          closed = true;
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) return { ok: false, reason: `the quoted value of ${key} opened at column ${open + 1} is not closed` };
      if (i < n && !isSpace(line[i])) return { ok: false, reason: `expected a space after the quoted value of ${key} at column ${i + 1}` };
    } else {
      const vs = i;
      while (i < n && !isSpace(line[i])) i++;
      value = line.slice(vs, i);
      if (value.includes('"')) return { ok: false, reason: `the value of ${key} holds a stray '"': quote the whole value, e.g. ${key}="a b"` };
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) return { ok: false, reason: `the value of ${key} holds control bytes (noise on the line?)` };
    if (key in pairs) return { ok: false, reason: `${key} appears twice` };
    pairs[key] = value;
  }
  if (Object.keys(pairs).length === 0) return { ok: false, reason: 'no key=value pairs' };
  // fromEntries defines own properties: a key named __proto__ stays a plain (refused) field.
  return { ok: true, pairs: Object.fromEntries(Object.entries(pairs)) };
}

/** Renames keys per the field map; refuses a rename onto a key the line also has. */
export function applyFieldMap(obj: Record<string, unknown>, map: Readonly<Record<string, string>>): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  const out = new Map<string, unknown>();
  const from = new Map<string, string>();
  for (const [key, v] of Object.entries(obj)) {
    const to = Object.hasOwn(map, key) ? map[key] : key;
    if (out.has(to)) {
      const renamed = to !== key ? key : from.get(to)!;
      return { ok: false, reason: `field map renames ${renamed} to ${to}, but the line has ${to} already` };
    }
    out.set(to, v);
    from.set(to, key);
  }
  return { ok: true, value: Object.fromEntries(out) };
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d+$/;

/**
 * Gives string values the types of the reading's schema: numbers for int and float fields,
 * booleans for bool fields, and `ts` as epoch milliseconds when it is all digits. A value that
 * does not fit stays a string, so the gateway refuses it with the field and the reason.
 */
export function coerceValues(pairs: Record<string, unknown>, fieldTypes: Readonly<Record<string, FieldType>> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(pairs).map(([key, raw]) => [key, typeof raw === 'string' ? coerceOne(key, raw, fieldTypes?.[key]) : raw]));
}

function coerceOne(key: string, raw: string, type: FieldType | undefined): unknown {
  if (key === 'ts') return INT_RE.test(raw) ? Number(raw) : raw;
  if (key === 'seq') return INT_RE.test(raw) ? Number(raw) : raw;
  switch (type) {
    case 'int':
    case 'float':
      return NUMBER_RE.test(raw) ? Number(raw) : raw;
    case 'bool':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      return raw;
    default:
      return raw;
  }
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
