import { z } from 'zod';
import { epochMs, rfc3339Ms, RFC3339_EXAMPLE } from './time.ts';
import type { ReadingChannel } from './topics.ts';

/** How a field is written to InfluxDB; fixed by the schema so type conflicts cannot happen. */
export type FieldType = 'float' | 'int' | 'string' | 'bool';

/** One reading type of one device kind, e.g. the washer's `cycle` on `telemetry`. */
export interface ReadingDef {
  type: string;
  channel: ReadingChannel;
  /** InfluxDB measurement the reading is stored in. */
  measurement: string;
  /** The reading's own fields (not `type`, `ts`, `seq`). */
  fields: z.ZodObject;
  /** Fields with a small closed set of values, stored as tags so boards can group by them. */
  tags?: readonly string[];
  /** One line for the docs. */
  description: string;
}

/** A device kind: its readings and what its catalogue entries carry. */
export interface KindDef {
  kind: string;
  readings: readonly ReadingDef[];
  /** Kind-specific catalogue fields, e.g. `capacity_kg` for washers. */
  modelFields: z.ZodObject;
}

export interface CompiledReading extends ReadingDef {
  /** type + ts + seq + fields, strict: unknown fields are refused. The contract, parsed by zod's runtime. */
  schema: z.ZodObject;
  /**
   * `schema` compiled ahead of time by zod (`z.compile`): the same parser as generated code, which
   * answers valid readings itself and hands any other to zod's runtime, so a refusal has the
   * runtime's issues. `schema` itself when zod would not compile it (see `compiled`).
   */
  parser: z.ZodObject;
  /** Whether `parser` is compiled; false means zod refused the schema and readings take the runtime (`notCompiled` says why). */
  compiled: boolean;
  notCompiled?: string;
  fieldTypes: Readonly<Record<string, FieldType>>;
}

/**
 * `ts`: an RFC 3339 string or integer epoch milliseconds, parsed into epoch milliseconds by the
 * one strict parser (time.ts). A refusal says which form was meant and what is wrong with it.
 */
export const tsSchema = z.union([epochMs, rfc3339Ms], {
  error: (iss) => {
    if (iss.code !== 'invalid_union') return undefined;
    if (typeof iss.input === 'number') return iss.errors[0]?.[0]?.message;
    if (typeof iss.input === 'string') return iss.errors[1]?.[0]?.message;
    return `expected an RFC 3339 time such as ${RFC3339_EXAMPLE} or whole epoch milliseconds, got ${iss.input === null ? 'null' : Array.isArray(iss.input) ? 'an array' : typeof iss.input === 'object' ? 'an object' : JSON.stringify(iss.input)}`;
  },
});

/** Epoch milliseconds of a `ts` value (NaN when it is not a valid time). */
export function tsToMillis(ts: number | string): number {
  const r = tsSchema.safeParse(ts);
  return r.success ? r.data : Number.NaN;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) {
    s = s.unwrap() as z.ZodType;
  }
  return s;
}

export function fieldTypeOf(name: string, schema: z.ZodType): FieldType {
  const s = unwrap(schema);
  if (s instanceof z.ZodNumber) return s.format === 'safeint' || s.format === 'int32' ? 'int' : 'float';
  if (s instanceof z.ZodString || s instanceof z.ZodEnum) return 'string';
  if (s instanceof z.ZodBoolean) return 'bool';
  throw new Error(`field ${name}: no InfluxDB field type for this schema`);
}

/**
 * The firmware version a device runs, optional on every reading (`3.2.0`, `5.1.0-rc1`): a
 * device reports it with its readings, so what it ran when it sent them is known.
 */
export const firmwareSchema = z.string().regex(/^[A-Za-z0-9._+-]{1,32}$/, 'expected a firmware version such as 3.2.0 (letters, digits, ".", "_", "+", "-"; up to 32)');

export function compileReading(def: ReadingDef): CompiledReading {
  const fieldTypes: Record<string, FieldType> = {};
  for (const [name, schema] of Object.entries(def.fields.shape)) {
    fieldTypes[name] = fieldTypeOf(name, schema as z.ZodType);
  }
  fieldTypes.seq = 'int';
  const schema = z
    .object({
      type: z.literal(def.type),
      ts: tsSchema.optional(),
      seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
      firmware: firmwareSchema.optional(),
      ...def.fields.shape,
    })
    .strict();
  // Strict, so that a schema zod cannot compile is known here (and tested), not silently slow.
  // It stays valid then: the runtime parses it, as it would parse any schema.
  let parser: z.ZodObject = schema;
  let notCompiled: string | undefined;
  try {
    parser = z.compile(schema, { strict: true });
  } catch (err) {
    notCompiled = (err as Error).message;
  }
  // The firmware version is a tag of every reading type: a small set of values per fleet, so
  // boards and product insight can group error rates and usage by it.
  return { ...def, tags: [...(def.tags ?? []), 'firmware'], schema, parser, compiled: notCompiled === undefined, notCompiled, fieldTypes };
}
