import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { z } from 'zod';
import { KIND_NAMES, readingsFor } from '../kinds/index.ts';
import type { CompiledReading } from '../reading-def.ts';
import { decodeReadings, decodeReadingsWithZod, type DecodeOptions, type DecodeResult } from '../readings.ts';
import { READING_CHANNELS } from '../topics.ts';

// decodeReadings parses with the schemas as zod compiled them (z.compile); decodeReadingsWithZod
// with zod's runtime. They must agree on everything: what is kept, in which key order (it
// decides the line protocol and a point's time tie-break), and every refusal to the byte.
// The seed is fixed so that a failure can be replayed; UG_DECODE_FUZZ_SEED picks another.
const SEED = Number(process.env.UG_DECODE_FUZZ_SEED ?? 0x5eed_0de0);
const MESSAGES = 20_000;
const DAY_MS = 86_400_000;
const RECEIVED = Date.UTC(2026, 10, 1, 12);
const MAX_AGE_MS = 400 * DAY_MS;

const DEFS: CompiledReading[] = KIND_NAMES.flatMap((k) => READING_CHANNELS.flatMap((c) => [...readingsFor(k, c)!.values()]));

/** Field schemas as JSON Schema (zod's own rendering): what a valid value of each field looks like. */
interface FieldSpec {
  type?: string;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  maxLength?: number;
}
const specs = new Map(DEFS.map((d) => {
  const j = z.toJSONSchema(d.fields, { io: 'input' }) as { properties: Record<string, FieldSpec>; required?: string[] };
  return [d, { properties: j.properties, required: new Set(j.required ?? []) }];
}));

function randomness(seed: number) {
  const gen = xoroshiro128plus(seed);
  const int = (lo: number, hi: number) => uniformInt(gen, lo, hi);
  const float = () => uniformFloat64(gen);
  const chance = (p: number) => float() < p;
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  return { int, float, chance, pick };
}
type Rand = ReturnType<typeof randomness>;

const ASCII = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-';
const ODD = [' ', '"', '\\', '\n', '\u0000', 'é', '😀', '\u2028', '/', ':', '+'];

function text(r: Rand, alphabet: string, min: number, max: number, odd = 0): string {
  let s = '';
  for (let i = 0, n = r.int(min, max); i < n; i++) s += odd > 0 && r.chance(odd) ? r.pick(ODD) : alphabet[r.int(0, alphabet.length - 1)];
  return s;
}

/** A valid value of a field, as JSON text. */
function validValue(r: Rand, s: FieldSpec): string {
  if (s.enum) return JSON.stringify(r.pick(s.enum));
  if (s.type === 'integer' || s.type === 'number') {
    const lo = s.minimum ?? -1e6;
    const hi = s.maximum ?? 1e6;
    if (r.chance(0.1)) return String(r.pick([lo, hi]));
    if (s.type === 'integer') return String(r.int(lo, hi));
    if (lo === 0 && r.chance(0.02)) return '-0';
    const x = lo + r.float() * (hi - lo);
    return String(Math.min(hi, Math.max(lo, Number(x.toFixed(r.int(0, 6))))));
  }
  // A pattern of one character class and a length range, e.g. ^[A-Za-z0-9_.-]{1,32}$.
  const m = s.pattern ? /^\^\[.*\]\{(\d+),(\d+)\}\$$/.exec(s.pattern) : null;
  if (m) return JSON.stringify(text(r, ASCII, Number(m[1]), Number(m[2])));
  return JSON.stringify(text(r, ASCII, 0, Math.min(s.maxLength ?? 40, r.chance(0.1) ? 1_000 : 60), 0.05));
}

/** Values near the edge of a field, or of the wrong kind, as JSON text. */
function edgeValue(r: Rand, s?: FieldSpec): string {
  const lo = s?.minimum ?? 0;
  const hi = s?.maximum ?? 100;
  return r.pick([
    'null', 'true', 'false', '"7"', '""', '[]', '{}', '[1]', '{"a":1}', '1e309', '-1e309', '-0', '0', '1.5', '-1', '1e21',
    '9007199254740991', '9007199254740992', '5e-324', JSON.stringify('x'.repeat(r.int(31, 600))), '"cotton"', '"COTTON"', '"E21"', '"E 21"',
    String(lo - 1e-9), String(hi + 1e-9), String(lo - 1), String(hi + 1), String(hi), String(lo), String(Math.floor(hi / 2) + 0.5),
    JSON.stringify(text(r, ASCII, 0, 40, 0.3)),
  ]);
}

function validTs(r: Rand): string {
  const ms = RECEIVED - r.int(0, 399) * DAY_MS - r.int(0, DAY_MS - 1) + (r.chance(0.1) ? r.int(0, 299_000) + DAY_MS * 0 : 0);
  if (r.chance(0.5)) return String(ms);
  const iso = new Date(ms).toISOString(); // 2026-10-28T07:41:49.123Z
  switch (r.int(0, 5)) {
    case 0: return JSON.stringify(iso);
    case 1: return JSON.stringify(`${iso.slice(0, 19)}Z`);
    case 2: return JSON.stringify(`${iso.slice(0, 10)} ${iso.slice(11, 19)}.${text(r, '0123456789', 1, 9)}z`);
    case 3: return JSON.stringify(`${iso.slice(0, 10)}t${iso.slice(11, 19)}+00:00`);
    case 4: return JSON.stringify(`${iso.slice(0, 19)}-00:00`);
    default: return JSON.stringify(iso.toLowerCase());
  }
}

function edgeTs(r: Rand): string {
  return r.pick([
    String(RECEIVED + 301_000), String(RECEIVED + 299_000), String(RECEIVED - MAX_AGE_MS - 1), String(RECEIVED - MAX_AGE_MS + 1), '-1', '0', '1e17', '8640000000000000',
    '8640000000000001', String(RECEIVED + 0.5), '1e309', '"2026-02-30T10:00:00Z"', '"2026-13-01T10:00:00Z"', '"2026-10-31T24:00:00Z"', '"2026-10-31T23:59:60Z"',
    '"2026-10-31T10:00:00+24:00"', '"2026-10-31T10:00:00.1234567891Z"', '"2026-10-31T10:00:00"', '"2026-10-31"', '"2026-10-31T10:00:00+0100"', '""', 'null',
    'true', '{"at":1}', '[1]', '"yesterday"', JSON.stringify(new Date(RECEIVED + 3_600_000).toISOString()), JSON.stringify(new Date(RECEIVED - MAX_AGE_MS - DAY_MS).toISOString()),
  ]);
}

const UNKNOWN_KEYS = ['colour', 'fw_debug', '__proto__', 'constructor', 'toString', '', 'Type', 'load_kg ', 'values', 'hasOwnProperty'];

/** One reading as JSON text: valid more often than not, else changed the ways firmware gets it wrong (unless `mutate` is false). */
function reading(r: Rand, def: CompiledReading, others: readonly CompiledReading[], mutate = true): string {
  const { properties, required } = specs.get(def)!;
  const pairs: Array<[string, string]> = [['type', JSON.stringify(def.type)]];
  if (r.chance(0.8)) pairs.push(['ts', validTs(r)]);
  if (r.chance(0.7)) pairs.push(['seq', String(r.chance(0.05) ? 0 : r.int(1, 2 ** 31))]);
  if (r.chance(0.5)) pairs.push(['firmware', JSON.stringify(text(r, ASCII.replace('_', '+'), 1, 12))]);
  for (const [name, spec] of Object.entries(properties)) if (required.has(name) || r.chance(0.5)) pairs.push([name, validValue(r, spec)]);
  for (let i = !mutate || r.int(0, 1) === 0 ? 0 : r.int(1, 3); i > 0 && pairs.length > 0; i--) {
    const at = r.int(0, pairs.length - 1);
    switch (r.int(0, 9)) {
      case 0: pairs.splice(at, 1); break; // a field missing
      case 1: pairs.splice(at, 0, [r.pick(UNKNOWN_KEYS), edgeValue(r)]); break;
      case 2: pairs[at] = [pairs[at][0], edgeValue(r, properties[pairs[at][0]])]; break;
      case 3: pairs.push([pairs[at][0], r.chance(0.5) ? edgeValue(r, properties[pairs[at][0]]) : pairs[at][1]]); break; // twice: the later wins
      case 4: pairs[0] = ['type', r.pick([...others.map((o) => JSON.stringify(o.type)), '"CYCLE"', '1', 'null', '"state "', '"error"'])]; break;
      case 5: pairs.push(['ts', edgeTs(r)]); break;
      case 6: pairs.push(['seq', r.pick(['-1', '1.5', '9007199254740991', '9007199254740992', '"3"', 'null', '1e309'])]); break;
      case 7: pairs.push(['firmware', r.pick(['"4 2 1"', '""', '421', JSON.stringify('9'.repeat(33)), JSON.stringify('9'.repeat(32)), '"5.1.0-rc1"'])]); break;
      case 8: r.chance(0.5) ? pairs.reverse() : pairs.splice(0, 1); break; // another order, or no type
      default: pairs[at] = [pairs[at][0], validValue(r, properties[pairs[at][0]] ?? { type: 'number' })];
    }
  }
  const sep = mutate && r.chance(0.1) ? ' , ' : ',';
  return `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(sep)}}`;
}

/** One message: a reading, an array of them (some not objects at all), or something that is no message. */
function message(r: Rand): { payload: Buffer; opts: DecodeOptions } {
  const kind = r.chance(0.01) ? 'toaster' : r.pick(KIND_NAMES);
  const channel = r.pick(READING_CHANNELS);
  const defs = [...(readingsFor(kind, channel)?.values() ?? [])];
  const all = DEFS;
  const one = () => {
    if (r.chance(0.03)) return r.pick(['1', 'null', '"cycle"', '[]', '[{}]', 'true', '{}']);
    const def = defs.length > 0 && r.chance(0.95) ? r.pick(defs) : r.pick(all);
    return reading(r, def, all);
  };
  const opts: DecodeOptions = { kind, channel, receivedAtMs: RECEIVED, maxAgeMs: MAX_AGE_MS };
  if (r.chance(0.05)) opts.maxFutureSkewMs = r.pick([0, 1_000, 600_000]);
  if (r.chance(0.05)) opts.maxReadings = r.int(1, 4);
  let textOut: string;
  switch (r.int(0, 19)) {
    case 0: textOut = r.pick(['[]', '42', '"text"', 'null', '', ' ', '{', '[{"type":"cycle"}', 'nul', '{"type":"cycle",}', '\ufeff{}']); break;
    case 1: textOut = one().slice(0, r.int(0, 40)); break; // cut short
    case 2: case 3: case 4: case 5: case 6: case 7: textOut = `[${Array.from({ length: r.int(1, 6) }, one).join(',')}]`; break;
    default: textOut = one();
  }
  if (r.chance(0.05)) textOut = ` \n${textOut}\t`;
  let payload = Buffer.from(textOut);
  if (r.chance(0.01)) payload = Buffer.concat([payload, Buffer.from([r.pick([0xff, 0xc3, 0x80, 0xed])])]); // not UTF-8
  return { payload, opts };
}

/** A result as plain data: the reading's definition by name, its values as entries so that key order counts. */
function comparable(res: DecodeResult): unknown {
  return { ...res, readings: res.readings.map((x) => ({ def: `${x.def.channel}/${x.def.type}/${x.def.measurement}`, timeMs: x.timeMs, seq: x.seq, values: Object.entries(x.values) })) };
}

describe('the compiled parsers give what zod gives', () => {
  it(`${MESSAGES} random and mutated messages of every kind and channel decode alike, readings and refusals (seed ${SEED.toString(16)})`, () => {
    const r = randomness(SEED);
    const seen = { kept: 0, refused: 0, codes: new Set<string>(), keptBy: new Set<string>(), refusedBy: new Set<string>() };
    for (let i = 0; i < MESSAGES; i++) {
      const { payload, opts } = message(r);
      const fast = decodeReadings(payload, opts);
      const zod = decodeReadingsWithZod(payload, opts);
      assert.deepStrictEqual(comparable(fast), comparable(zod), `message ${i} (${opts.kind} ${opts.channel}): ${payload.toString()}`);
      fast.readings.forEach((x, j) => assert.equal(x.def, zod.readings[j].def));
      seen.kept += fast.readings.length;
      seen.refused += new Set(fast.errors.map((e) => e.index ?? 0)).size;
      for (const e of fast.errors) seen.codes.add(e.code);
      for (const x of fast.readings) seen.keptBy.add(`${opts.kind}/${x.def.channel}`);
      if (fast.errors.some((e) => e.code === 'GW_ERR_INVALID_READING' && e.field !== 'type')) seen.refusedBy.add(`${opts.kind}/${opts.channel}`);
    }
    // The comparison means something only if both sides of it were exercised, everywhere.
    const total = seen.kept + seen.refused;
    assert.ok(seen.kept > total / 4 && seen.refused > total / 4, `kept ${seen.kept}, refused ${seen.refused}`);
    for (const k of KIND_NAMES) {
      for (const c of READING_CHANNELS) {
        assert.ok(seen.keptBy.has(`${k}/${c}`), `nothing kept for ${k}/${c}`);
        assert.ok(seen.refusedBy.has(`${k}/${c}`), `no field refused for ${k}/${c}`);
      }
    }
    for (const code of ['GW_ERR_INVALID_READING', 'GW_ERR_TS_IN_FUTURE', 'GW_ERR_TS_TOO_OLD', 'GW_ERR_BAD_JSON', 'GW_ERR_BAD_UTF8', 'GW_ERR_EMPTY_BATCH', 'GW_ERR_TOO_MANY_READINGS', 'GW_ERR_NOT_A_READING', 'GW_ERR_UNKNOWN_KIND']) {
      assert.ok(seen.codes.has(code), `no ${code} among ${[...seen.codes].join(', ')}`);
    }
  });
});

/** Readings as devices send them (the simulator's output), one of every kind and channel. */
const REAL: Array<[string, DecodeOptions['channel'], string]> = [
  ['washer', 'telemetry', '{"type":"cycle","ts":1793181590000,"seq":531,"program":"delicates","load_kg":2.3,"duration_s":3201,"water_l":18,"energy_kwh":0.243,"temp_c":30,"spin_rpm":600,"vibration_g":0.447,"detergent_ml":45,"firmware":"4.2.1"}'],
  ['washer', 'events', '{"type":"error","ts":1794573640000,"code":"E10","severity":"info","detail":"door opened during the cycle","firmware":"4.2.1"}'],
  ['fridge', 'telemetry', '{"type":"state","ts":1793164800000,"seq":139712,"temp_c":4.97,"freezer_temp_c":-18.03,"door_openings":0,"door_open_s":0,"compressor_duty":0.355,"energy_kwh":0.0058,"firmware":"1.9.2"}'],
  ['fridge', 'events', '{"type":"error","ts":1794888602000,"code":"F12","severity":"warning","firmware":"1.9.2"}'],
  ['car', 'telemetry', '{"type":"trip","ts":"2026-10-28T07:41:49.000Z","seq":1994,"distance_km":16.4,"duration_s":1210,"avg_speed_kmh":48.8,"max_speed_kmh":96.3,"harsh_brakes":2,"harsh_accels":0,"night_km":0,"odometer_km":98101.2,"energy_kwh":2.32,"battery_soh_pct":98.4,"firmware":"5.0.3"}'],
  ['car', 'events', '{"type":"error","ts":"2026-11-02T16:19:21.000Z","code":"P0128","severity":"warning","firmware":"5.1.0"}'],
];

/**
 * How many times zod's runtime parsed a reading while `f` ran: each reading schema's `type` is
 * parsed by the runtime on every reading it looks at, while the compiled code checks it inline.
 */
function runtimeParses(f: () => void): number {
  let calls = 0;
  const undo = DEFS.map((d) => {
    const inner = (d.schema.shape as Record<string, z.ZodType>).type._zod;
    const run = inner.run;
    inner.run = (payload, ctx) => {
      calls++;
      return run(payload, ctx);
    };
    return () => { inner.run = run; };
  });
  try {
    f();
  } finally {
    for (const u of undo) u();
  }
  return calls;
}

describe('the compiled parsers are what the gateway uses', () => {
  it('zod compiled every reading schema', () => {
    for (const d of DEFS) assert.ok(d.compiled && d.parser !== d.schema, `${d.channel}/${d.type}: zod did not compile it (${d.notCompiled}); every reading of it takes the runtime`);
  });

  it('valid readings of every kind and channel are answered by the compiled code, never by zod’s runtime', () => {
    const r = randomness(SEED + 1);
    const messages: Array<{ payload: Buffer; opts: DecodeOptions }> = [];
    for (const [kind, channel, json] of REAL) {
      const receivedAtMs = RECEIVED + DAY_MS * 30; // after every ts above
      messages.push({ payload: Buffer.from(json), opts: { kind, channel, receivedAtMs, maxAgeMs: MAX_AGE_MS } });
      const defs = [...readingsFor(kind, channel)!.values()];
      // and batches of generated readings that the runtime keeps
      const batch = Array.from({ length: 50 }, () => reading(r, r.pick(defs), [], false));
      messages.push({ payload: Buffer.from(`[${batch.join(',')}]`), opts: { kind, channel, receivedAtMs: RECEIVED, maxAgeMs: MAX_AGE_MS } });
    }
    let kept = 0;
    const calls = runtimeParses(() => {
      for (const m of messages) {
        const res = decodeReadings(m.payload, m.opts);
        const valid = res.errors.filter((e) => e.code === 'GW_ERR_INVALID_READING').length === 0;
        if (valid) kept += res.readings.length;
      }
    });
    assert.ok(kept >= 6 * 20, `only ${kept} readings kept`);
    assert.equal(calls, 0, 'zod’s runtime parsed valid readings: the compiled parsers are not in use');
  });

  it('a refused reading reaches zod’s runtime, which words the refusal (so the probe above can see it)', () => {
    let res: DecodeResult | undefined;
    const calls = runtimeParses(() => {
      res = decodeReadings(Buffer.from(REAL[0][2].replace('"load_kg":2.3', '"load_kg":41')), { kind: 'washer', channel: 'telemetry', receivedAtMs: RECEIVED + DAY_MS * 30, maxAgeMs: MAX_AGE_MS });
    });
    assert.equal(calls, 1);
    assert.equal(res?.errors[0].reason, 'must be ≤ 40, got 41');
  });
});
