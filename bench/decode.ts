import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { readingsToLines } from '../core/influx/index.ts';
import { DeviceSim } from '../firmware-sim/generate.ts';
import { decodeReadings, decodeReadingsWithZod, type DecodeOptions, type DecodeResult } from '../protocol/readings.ts';
import { benchFleet, catalogue } from './lib/fleet.ts';
import { fmt, machine, progress, saveResults, table } from './lib/report.ts';
import { median } from './lib/stats.ts';

export interface DecodeBenchOptions {
  quick: boolean;
  /** Timed runs per case and implementation; the median is reported. */
  runs: number;
  /** Seconds each run decodes for. */
  runS: number;
  /** A folder for a CPU profile of each implementation (one reading per message). */
  cpuProf?: string;
}

/** A way to decode a message: the one the gateway uses, and the baselines it is compared with. */
interface Impl {
  name: string;
  decode: (payload: Uint8Array, opts: DecodeOptions) => DecodeResult;
}

/** The first is the reference every other is checked against (zod's runtime parser, what decodeReadings was before it was compiled). */
const IMPLS: Impl[] = [
  { name: 'zod runtime', decode: decodeReadingsWithZod },
  { name: 'compiled', decode: decodeReadings },
];

/** Messages of one shape (kind, channel, readings per message) and what the gateway knows when each arrives. */
interface Case {
  name: string;
  perMessage: number;
  messages: Array<{ payload: Buffer; opts: DecodeOptions; deviceId: string; kind: string; model: string }>;
}

const DAY_MS = 86_400_000;
const RETENTION_MS = 400 * DAY_MS;

/**
 * Realistic messages from the simulator (no misbehaving firmware): each reading as the device
 * sends it, one per message or 50 of one device per array, received 2 s after its last reading.
 */
function buildCases(perCase: number): Case[] {
  const fleet = benchFleet(90, 'decode');
  const now = Date.now();
  const byKey = new Map<string, Array<{ deviceId: string; kind: string; model: string; readings: Array<{ text: string; timeMs: number }> }>>();
  for (const d of fleet.devices) {
    const sim = new DeviceSim(fleet, d, catalogue);
    const mine = new Map<string, Array<{ text: string; timeMs: number }>>();
    // A fridge reports every few minutes; the others a few times a day at most.
    const days = d.kind === 'fridge' ? 20 : 365;
    for (const r of sim.readings(now - days * DAY_MS, now)) {
      if (r.expect !== 'ok') continue;
      const key = r.channel === 'events' ? 'events' : d.kind;
      if (!mine.has(key)) mine.set(key, []);
      mine.get(key)!.push({ text: JSON.stringify(r.reading), timeMs: r.timeMs });
    }
    for (const [key, readings] of mine) {
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key)!.push({ deviceId: d.id, kind: d.kind, model: d.model, readings });
    }
  }
  const cases: Case[] = [];
  for (const perMessage of [1, 50]) {
    for (const key of ['washer', 'fridge', 'car', 'events']) {
      if (key === 'events' && perMessage > 1) continue; // errors come one at a time
      const c: Case = { name: `${key} x${perMessage}`, perMessage, messages: [] };
      const devices = byKey.get(key) ?? [];
      // Round-robin over the devices, each taking its next readings in order, as the gateway sees them.
      for (let i = 0; c.messages.length < perCase && devices.length > 0; i++) {
        const d = devices[i % devices.length];
        const at = Math.floor(i / devices.length) * perMessage;
        const chunk = d.readings.slice(at, at + perMessage);
        if (chunk.length < perMessage) {
          if (devices.every((x) => x.readings.length < at + perMessage)) break;
          continue;
        }
        const text = perMessage === 1 ? chunk[0].text : `[${chunk.map((r) => r.text).join(',')}]`;
        const opts: DecodeOptions = {
          kind: d.kind, channel: key === 'events' ? 'events' : 'telemetry',
          receivedAtMs: chunk[chunk.length - 1].timeMs + 2_000, maxAgeMs: RETENTION_MS,
        };
        c.messages.push({ payload: Buffer.from(text), opts, deviceId: d.deviceId, kind: d.kind, model: d.model });
      }
      if (c.messages.length > 0) cases.push(c);
    }
  }
  return cases;
}

/** CPU microseconds of this process (user + system) while `f` runs over the messages for about `seconds`. */
function timed(c: Case, seconds: number, f: (m: Case['messages'][number]) => unknown): { cpuUs: number; messages: number } {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let messages = 0;
  let sink = 0;
  do {
    for (const m of c.messages) if (f(m)) sink++;
    messages += c.messages.length;
  } while (performance.now() - t0 < seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) throw new Error('unreachable');
  return { cpuUs: cpu.user + cpu.system, messages };
}

/** Self time by function and by where the code lives, from a V8 CPU profile (in samples: the interval is fixed). */
function summarizeProfile(profile: { nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>; samples?: number[] }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let total = 0;
  const root = process.cwd();
  for (const id of profile.samples ?? []) {
    const n = byId.get(id);
    if (!n) continue;
    total++;
    const { functionName, url, lineNumber } = n.callFrame;
    const path = url.startsWith('file://') ? relative(root, new URL(url).pathname) : url;
    // Code without a source is V8's own ((garbage collector), builtins) or made with new Function (zod's generated parsers).
    const where = !path ? (functionName.startsWith('(') ? functionName : functionName ? `builtin ${functionName}` : 'generated code (new Function)')
      : path.includes('node_modules/zod/') ? 'zod'
        : path.startsWith('node:') ? 'node internals'
          : path.split('/').slice(0, 2).join('/');
    area.set(where, (area.get(where) ?? 0) + 1);
    const key = `${functionName || '(anonymous)'} ${path.replace(/^node_modules\//, '')}${path && lineNumber > 0 ? `:${lineNumber + 1}` : ''}`.trim();
    fn.set(key, (fn.get(key) ?? 0) + 1);
  }
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, count]) => ({ what: k, share: count / total }));
  return { areas: top(area, 8), functions: top(fn, 12) };
}

/** A CPU profile of one implementation decoding the one-reading messages, written to `dir` and summed up. */
async function profileOf(impl: Impl, cases: Case[], seconds: number, dir: string) {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    for (const c of cases.filter((x) => x.perMessage === 1)) timed(c, seconds, (m) => impl.decode(m.payload, m.opts));
    const { profile } = await session.post('Profiler.stop');
    await mkdir(dir, { recursive: true });
    const path = join(dir, `decode-${impl.name.replace(/[^A-Za-z0-9]+/g, '-')}.cpuprofile`);
    await writeFile(path, JSON.stringify(profile));
    return { path, ...summarizeProfile(profile as Parameters<typeof summarizeProfile>[0]) };
  } finally {
    session.disconnect();
  }
}

/** The readings of a result as data, `def` by its measurement, keys in their order (it decides the line protocol). */
function comparable(r: DecodeResult): unknown {
  return {
    ...r,
    readings: r.readings.map((x) => ({ measurement: x.def.measurement, timeMs: x.timeMs, seq: x.seq, values: Object.entries(x.values) })),
  };
}

/**
 * Micro-benchmark of decoding and validating messages (protocol/readings.ts) and of turning
 * the readings into line protocol (core/influx), in this process: CPU per message and per
 * reading, the median of several runs, each implementation in the same run.
 */
export async function runDecode(o: DecodeBenchOptions): Promise<{ ok: boolean }> {
  const log = progress('decode');
  const env = machine();
  log(`load average ${(env.loadAvgAtStart as number[]).join(' ')}; building messages from the simulator…`);
  const cases = buildCases(o.quick ? 500 : 2_000);
  for (const c of cases) log(`${c.name}: ${fmt.int(c.messages.length)} messages, ${fmt.int(c.messages.reduce((s, m) => s + m.payload.length, 0) / c.messages.length)} bytes each`);

  // Every implementation must give the same result as the first on every message, valid ones all.
  let mismatches = 0;
  let refused = 0;
  for (const c of cases) {
    for (const m of c.messages) {
      const want = comparable(IMPLS[0].decode(m.payload, m.opts));
      if ((want as DecodeResult).errors.length > 0) refused++;
      for (const impl of IMPLS.slice(1)) {
        if (!isDeepStrictEqual(comparable(impl.decode(m.payload, m.opts)), want)) {
          if (mismatches++ < 3) log(`MISMATCH ${impl.name} ${c.name}: ${m.payload.toString().slice(0, 200)}`);
        }
      }
    }
  }
  log(`results compared: ${mismatches} mismatches; ${refused} messages refused (expected 0)`);

  // Warm-up, then runs that alternate the implementations, so that load on the machine falls on both alike.
  for (const impl of IMPLS) for (const c of cases) timed(c, o.quick ? 0.05 : 0.2, (m) => impl.decode(m.payload, m.opts));
  const samples = new Map<string, number[]>();
  const add = (key: string, v: number) => samples.set(key, [...(samples.get(key) ?? []), v]);
  for (let run = 1; run <= o.runs; run++) {
    for (const c of cases) {
      for (const impl of IMPLS) {
        const t = timed(c, o.runS, (m) => impl.decode(m.payload, m.opts));
        add(`${c.name}|${impl.name}`, t.cpuUs / t.messages);
      }
      const decoded = c.messages.map((m) => ({ m, readings: decodeReadings(m.payload, m.opts).readings }));
      const byPayload = new Map(decoded.map((d) => [d.m.payload, d.readings]));
      const t = timed(c, o.runS, (m) => readingsToLines(byPayload.get(m.payload)!, { deviceId: m.deviceId, kind: m.kind, model: m.model }));
      add(`${c.name}|readingsToLines`, t.cpuUs / t.messages);
    }
    log(`run ${run}/${o.runs} done`);
  }

  const results = cases.map((c) => {
    const per = (name: string) => median(samples.get(`${c.name}|${name}`) ?? []);
    return {
      case: c.name, perMessage: c.perMessage, messages: c.messages.length,
      impls: Object.fromEntries(IMPLS.map((i) => [i.name, { usPerMessage: per(i.name), usPerReading: per(i.name) / c.perMessage, runs: samples.get(`${c.name}|${i.name}`) }])),
      readingsToLines: { usPerMessage: per('readingsToLines'), usPerReading: per('readingsToLines') / c.perMessage },
    };
  });

  const profiles: Array<Awaited<ReturnType<typeof profileOf>> & { impl: string }> = [];
  if (o.cpuProf) {
    for (const impl of IMPLS) {
      log(`profiling ${impl.name}…`);
      profiles.push({ impl: impl.name, ...(await profileOf(impl, cases, o.quick ? 0.5 : 1, o.cpuProf)) });
    }
  }
  const loadAtEnd = machine().loadAvgAtStart;

  const us = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
  // Each implementation beside the reference: the reference's CPU divided by its own.
  const speedup = (r: (typeof results)[number], name: string) => r.impls[IMPLS[0].name].usPerMessage / r.impls[name].usPerMessage;
  const header = ['case', ...IMPLS.flatMap((i, n) => [`${i.name} µs/msg`, 'µs/reading', ...(n > 0 ? ['×'] : [])]), 'readingsToLines µs/msg'];
  const rows = results.map((r) => [
    r.case,
    ...IMPLS.flatMap((i, n) => [us(r.impls[i.name].usPerMessage), us(r.impls[i.name].usPerReading), ...(n > 0 ? [fmt.ratio(speedup(r, i.name))] : [])]),
    us(r.readingsToLines.usPerMessage),
  ]);
  process.stdout.write(`\nDecode and validate, CPU per message (median of ${o.runs} runs of ${o.runS} s; load average ${(env.loadAvgAtStart as number[]).join(' ')} at start, ${(loadAtEnd as number[]).join(' ')} at end)\n\n${table([header, ...rows])}\n`);
  for (const impl of IMPLS.slice(1)) {
    const of = (perMessage: number) => results.filter((r) => r.perMessage === perMessage);
    const line = (perMessage: number, what: string) => {
      const rs = of(perMessage);
      if (rs.length === 0) return '';
      return `${what} ${us(median(rs.map((r) => r.impls[impl.name].usPerReading)))} µs per reading (${fmt.ratio(median(rs.map((r) => speedup(r, impl.name))))} less CPU than ${IMPLS[0].name})`;
    };
    process.stdout.write(`\n${impl.name}, medians over the cases: ${[line(1, 'one reading per message'), line(50, 'arrays of 50')].filter(Boolean).join('; ')}${mismatches === 0 ? ', same results on every message' : `, ${mismatches} MISMATCHES`}\n`);
  }
  for (const p of profiles) {
    process.stdout.write(`\nProfile of ${p.impl}, one reading per message (${p.path}), self time:\n`);
    process.stdout.write(`  by where: ${p.areas.map((a) => `${a.what} ${(a.share * 100).toFixed(0)} %`).join(', ')}\n`);
    for (const f of p.functions) process.stdout.write(`  ${(f.share * 100).toFixed(1).padStart(5)} %  ${f.what}\n`);
  }
  const path = await saveResults('decode', { machine: env, loadAvgAtEnd: loadAtEnd, options: o, mismatches, refused, results, profiles });
  process.stdout.write(`\nresults: ${path}\n`);
  return { ok: mismatches === 0 && refused === 0 };
}
