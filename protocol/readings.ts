import type { z } from 'zod';
import type { ErrorCode } from './errors.ts';
import { readingsFor } from './kinds/index.ts';
import type { CompiledReading } from './reading-def.ts';
import { notFinite } from './time.ts';
import type { ReadingChannel } from './topics.ts';

export const PROTOCOL_LIMITS = {
  maxPayloadBytes: 256 * 1024,
  maxReadingsPerMessage: 1000,
  maxFutureSkewMs: 5 * 60 * 1000,
} as const;

/** A reading that passed validation, with its time settled. */
export interface Reading {
  def: CompiledReading;
  /** Epoch milliseconds: the reading's `ts`, or the receive time when it had none. */
  timeMs: number;
  seq?: number;
  values: Record<string, unknown>;
}

/** Why one reading, or the whole message, was refused. */
export interface ReadingError {
  code: ErrorCode;
  /** Index in the array; absent when the message was a single object or refused whole. */
  index?: number;
  /** Dotted path of the offending field, absent when the reading as a whole is wrong. */
  field?: string;
  reason: string;
  expected?: unknown;
  received?: unknown;
}

export interface DecodeResult {
  readings: Reading[];
  errors: ReadingError[];
  /** True when the message was refused as a whole (no reading could be looked at). */
  refusedWhole: boolean;
  /** Number of readings the message held (1 for an object). */
  offered: number;
}

export interface DecodeOptions {
  kind: string;
  channel: ReadingChannel;
  receivedAtMs: number;
  /** Readings older than this are refused (raw retention). */
  maxAgeMs: number;
  maxFutureSkewMs?: number;
  maxReadings?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function whole(code: ErrorCode, reason: string, extra: Partial<ReadingError> = {}): DecodeResult {
  return { readings: [], errors: [{ code, reason, ...extra }], refusedWhole: true, offered: 0 };
}

/** A value as a notice carries it: long strings cut, containers named, numbers JSON cannot hold as text. */
function describe(value: unknown): unknown {
  if (typeof value === 'string' && value.length > 80) return `${value.slice(0, 77)}...`;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return value;
}

/** A value as a reason quotes it. */
function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return notFinite(value);
  const d = describe(value);
  return d === 'an array' || d === 'an object' ? String(d) : JSON.stringify(d);
}

/**
 * Words a firmware engineer can act on for every way a reading can fail its schema: zod's
 * per-parse error map, used for each issue whose schema does not word it itself (schemas in
 * kinds/ and time.ts may, and win).
 */
export const readingIssueWords: z.core.$ZodErrorMap = (iss) => {
  const input = iss.input;
  switch (iss.code) {
    case 'invalid_type':
      if (input === undefined) return `${iss.path?.length ? iss.path.join('.') : 'value'} is required`;
      if (typeof input === 'number' && !Number.isFinite(input)) return notFinite(input);
      if (iss.expected === 'int') return `expected a whole number, got ${show(input)}`;
      return `expected ${iss.expected}, got ${show(input)}`;
    case 'too_big':
      return `must be ${iss.inclusive ? '≤' : '<'} ${iss.maximum}, got ${show(input)}`;
    case 'too_small':
      return `must be ${iss.inclusive ? '≥' : '>'} ${iss.minimum}, got ${show(input)}`;
    case 'invalid_value':
      return `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(input)}`;
    case 'unrecognized_keys':
      return `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')}: unknown fields are refused, not dropped`;
    case 'invalid_format':
      return `${show(input)} is not in the expected format`;
    default:
      return undefined;
  }
};

/** The same object for every parse: zod reads it only when a reading is refused. */
const PARSE_PARAMS = { reportInput: true, error: readingIssueWords } as const;

/** A zod issue (its words from readingIssueWords or the schema) as a ReadingError with what was expected and received. */
function issueToError(issue: z.core.$ZodIssue, index: number | undefined): ReadingError {
  const field = issue.path.length > 0 ? issue.path.join('.') : undefined;
  const base = { code: 'GW_ERR_INVALID_READING' as const, index, field, reason: issue.message };
  const input = (issue as { input?: unknown }).input;
  const received = input === undefined ? {} : { received: describe(input) };
  switch (issue.code) {
    case 'unrecognized_keys':
      return { ...base, field: issue.keys.join(',') };
    case 'invalid_type':
      return { ...base, expected: issue.expected, ...received };
    case 'too_big':
      return { ...base, expected: `<=${issue.maximum}`, ...received };
    case 'too_small':
      return { ...base, expected: `>=${issue.minimum}`, ...received };
    case 'invalid_value':
      return { ...base, expected: issue.values, ...received };
    default:
      return { ...base, ...received };
  }
}

function validateOne(
  raw: unknown,
  index: number | undefined,
  defs: ReadonlyMap<string, CompiledReading>,
  opts: DecodeOptions,
  compiled: boolean,
): Reading | ReadingError[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return [{ code: 'GW_ERR_INVALID_READING', index, reason: `a reading must be a JSON object, got ${Array.isArray(raw) ? 'an array' : JSON.stringify(describe(raw))}` }];
  }
  const type = (raw as { type?: unknown }).type;
  const def = typeof type === 'string' ? defs.get(type) : undefined;
  if (!def) {
    const known = [...defs.keys()];
    return [{
      code: 'GW_ERR_INVALID_READING', index, field: 'type',
      reason: `a ${opts.kind} sends ${known.map((t) => `"${t}"`).join(' or ')} on ${opts.channel}, got ${JSON.stringify(describe(type))}`,
      expected: known, received: describe(type),
    }];
  }
  const parsed = (compiled ? def.parser : def.schema).safeParse(raw, PARSE_PARAMS);
  if (!parsed.success) return parsed.error.issues.map((i) => issueToError(i, index));
  // ts comes out of the schema as epoch milliseconds (tsSchema); the refusals below quote it as sent.
  // The parsed object is zod's own copy, in the schema's key order (which the line protocol and
  // the point's tie-break hash follow); values are its fields in that order.
  const data = parsed.data as Record<string, unknown>;
  const tsMs = data.ts;
  const seq = data.seq;
  const values: Record<string, unknown> = {};
  for (const key in data) if (key !== 'type' && key !== 'ts' && key !== 'seq') values[key] = data[key];
  const ts = (raw as { ts?: unknown }).ts;
  const timeMs = tsMs === undefined ? opts.receivedAtMs : (tsMs as number);
  const skew = opts.maxFutureSkewMs ?? PROTOCOL_LIMITS.maxFutureSkewMs;
  if (timeMs > opts.receivedAtMs + skew) {
    return [{
      code: 'GW_ERR_TS_IN_FUTURE', index, field: 'ts',
      reason: `ts is ${Math.round((timeMs - opts.receivedAtMs) / 1000)} s ahead of the gateway clock (at most ${skew / 1000} s allowed); check the device clock`,
      received: ts,
    }];
  }
  if (timeMs < opts.receivedAtMs - opts.maxAgeMs) {
    return [{
      code: 'GW_ERR_TS_TOO_OLD', index, field: 'ts',
      reason: `ts is older than the raw retention of ${Math.round(opts.maxAgeMs / 86_400_000)} days`,
      received: ts,
    }];
  }
  return { def, timeMs, seq: seq as number | undefined, values };
}

/**
 * Decodes and validates one message: a reading object or an array of them.
 * The valid readings of a batch are returned alongside the errors of the others.
 *
 * Each reading is parsed by its schema as zod compiled it ahead of time (CompiledReading.parser):
 * a valid reading is answered by the generated code, anything else by zod's runtime, so the
 * result is decodeReadingsWithZod's, only cheaper.
 */
export function decodeReadings(payload: Uint8Array, opts: DecodeOptions): DecodeResult {
  return decode(payload, opts, true);
}

/** decodeReadings with zod's runtime parser only: the reference the compiled parsers are tested and measured against. */
export function decodeReadingsWithZod(payload: Uint8Array, opts: DecodeOptions): DecodeResult {
  return decode(payload, opts, false);
}

function decode(payload: Uint8Array, opts: DecodeOptions, compiled: boolean): DecodeResult {
  const maxReadings = opts.maxReadings ?? PROTOCOL_LIMITS.maxReadingsPerMessage;
  const defs = readingsFor(opts.kind, opts.channel);
  if (!defs) return whole('GW_ERR_UNKNOWN_KIND', `device kind "${opts.kind}" has no schema in this gateway`);
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return whole('GW_ERR_BAD_UTF8', 'payload is not valid UTF-8');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return whole('GW_ERR_BAD_JSON', `payload is not valid JSON: ${(err as Error).message}`);
  }
  const items = Array.isArray(doc) ? doc : [doc];
  if (Array.isArray(doc)) {
    if (doc.length === 0) return whole('GW_ERR_EMPTY_BATCH', 'the array holds no readings');
    if (doc.length > maxReadings) {
      return whole('GW_ERR_TOO_MANY_READINGS', `the array holds ${doc.length} readings, at most ${maxReadings} are allowed per message`, { expected: `<=${maxReadings}`, received: doc.length });
    }
  } else if (typeof doc !== 'object' || doc === null) {
    return whole('GW_ERR_NOT_A_READING', `payload must be a reading object or an array of readings, got ${JSON.stringify(describe(doc))}`);
  }
  const readings: Reading[] = [];
  const errors: ReadingError[] = [];
  const batch = Array.isArray(doc);
  for (let i = 0; i < items.length; i++) {
    const out = validateOne(items[i], batch ? i : undefined, defs, opts, compiled);
    if (Array.isArray(out)) errors.push(...out);
    else readings.push(out);
  }
  return { readings, errors, refusedWhole: false, offered: items.length };
}
