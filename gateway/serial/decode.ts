import type { ErrorCode } from '../../protocol/errors.ts';
import { KINDS, commonEvents } from '../../protocol/kinds/index.ts';
import { compileReading, type FieldType } from '../../protocol/reading-def.ts';
import type { ReadingChannel } from '../../protocol/topics.ts';
import { applyFieldMap, coerceValues, parseKv } from './kv.ts';

export type LineFormat = 'json' | 'kv';

export interface LineDecoderOptions {
  format: LineFormat;
  fieldMap?: Readonly<Record<string, string>>;
  /** The device's kind, when known: narrows coercion to its own readings. */
  kind?: string;
}

export type DecodedLine =
  | { status: 'reading'; reading: Record<string, unknown>; channel: ReadingChannel }
  /** Blank lines and `#` comments (boot banners, debug prints). */
  | { status: 'ignored' }
  | { status: 'refused'; code: ErrorCode; reason: string };

interface TypeInfo {
  channel: ReadingChannel;
  fieldTypes: Readonly<Record<string, FieldType>>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reading types by name, from protocol/ (the one source of truth), for one kind or all. */
function typeTable(kind: string | undefined): Map<string, TypeInfo> {
  const table = new Map<string, TypeInfo>();
  const kinds = kind ? KINDS.filter((k) => k.kind === kind) : KINDS;
  for (const def of [...kinds.flatMap((k) => k.readings), ...commonEvents]) {
    const c = compileReading(def);
    const had = table.get(c.type);
    table.set(c.type, { channel: c.channel, fieldTypes: { ...had?.fieldTypes, ...c.fieldTypes } });
  }
  return table;
}

/**
 * One serial line → one reading in the device protocol's JSON shape, and the channel it goes
 * on (`error` readings to events, the rest to telemetry). Only the line itself is judged here
 * (bytes, syntax); the reading's schema is the gateway's to check, as for any device.
 */
export class LineDecoder {
  private readonly format: LineFormat;
  private readonly fieldMap: Readonly<Record<string, string>>;
  private readonly types: Map<string, TypeInfo>;

  constructor(opts: LineDecoderOptions) {
    if (opts.kind && !KINDS.some((k) => k.kind === opts.kind)) {
      throw new Error(`unknown device kind "${opts.kind}" (known: ${KINDS.map((k) => k.kind).join(', ')})`);
    }
    this.format = opts.format;
    this.fieldMap = opts.fieldMap ?? {};
    this.types = typeTable(opts.kind);
  }

  decode(bytes: Uint8Array): DecodedLine {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return { status: 'refused', code: 'GW_ERR_BAD_UTF8', reason: 'line is not valid UTF-8 (noise on the line, or a baud rate mismatch?)' };
    }
    text = text.replace(/^\uFEFF/, '').trim();
    if (text === '' || text.startsWith('#')) return { status: 'ignored' };
    let obj: Record<string, unknown>;
    if (this.format === 'json') {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        return { status: 'refused', code: 'GW_ERR_BAD_JSON', reason: `line is not valid JSON: ${(err as Error).message}` };
      }
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
        return { status: 'refused', code: 'GW_ERR_NOT_A_READING', reason: 'a JSON line must hold one reading object' };
      }
      obj = doc as Record<string, unknown>;
    } else {
      const kv = parseKv(text);
      if (!kv.ok) return { status: 'refused', code: 'GW_ERR_SERIAL_BAD_KV', reason: kv.reason };
      obj = kv.pairs;
    }
    const mapped = applyFieldMap(obj, this.fieldMap);
    if (!mapped.ok) return { status: 'refused', code: this.format === 'kv' ? 'GW_ERR_SERIAL_BAD_KV' : 'GW_ERR_NOT_A_READING', reason: mapped.reason };
    const info = typeof mapped.value.type === 'string' ? this.types.get(mapped.value.type) : undefined;
    const reading = this.format === 'kv' ? coerceValues(mapped.value, info?.fieldTypes) : mapped.value;
    // An unknown or missing type still goes out: the gateway refuses it with the list of
    // types the device's kind may send, and dead-letters it like any device's message.
    return { status: 'reading', reading, channel: info?.channel ?? 'telemetry' };
  }
}
