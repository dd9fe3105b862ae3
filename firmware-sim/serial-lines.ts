import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { SerialPort } from 'serialport';
import { WASHER_PROGRAMS } from '../protocol/kinds/washer.ts';
import { KIND_NAMES } from '../protocol/kinds/index.ts';
import { SEVERITIES } from '../protocol/kinds/events.ts';
import { UsageGatewayError } from '../protocol/errors.ts';

/** How a bench device frames its readings on the serial line (the bridge reads both). */
export type LineFormat = 'json' | 'kv';

/**
 * A bench device on a serial line, for trying the bridge without hardware: simple valid
 * readings of one kind from a seeded PRNG (same seed, same readings), now and then an
 * `error` event, each with `seq` and a strictly increasing `ts`.
 */
export function simulatedReadings(kind: string, seed: number, now: () => number = Date.now): Generator<Record<string, unknown>> {
  // Checked here, not in the generator body, which would run only at the first reading.
  if (!KIND_NAMES.includes(kind)) throw new UsageGatewayError('GW_ERR_USAGE', `unknown device kind "${kind}" (known: ${KIND_NAMES.join(', ')})`);
  return readings(kind, seed, now);
}

function* readings(kind: string, seed: number, now: () => number): Generator<Record<string, unknown>> {
  const rng = xoroshiro128plus(seed);
  const between = (lo: number, hi: number, decimals = 2) => Number((lo + uniformFloat64(rng) * (hi - lo)).toFixed(decimals));
  const pick = <T>(xs: readonly T[]): T => xs[uniformInt(rng, 0, xs.length - 1)];
  let lastTs = 0;
  let odometer = between(5_000, 80_000, 1);
  for (let seq = 0; ; seq++) {
    const ts = Math.max(now(), lastTs + 1);
    lastTs = ts;
    if (uniformInt(rng, 1, 20) === 1) {
      yield { type: 'error', ts, seq, code: pick(['E21', 'E13', 'F07']), severity: pick(SEVERITIES), detail: 'simulated fault' };
      continue;
    }
    const r = kindReading(kind, rng, between, pick, (km) => (odometer = Number((odometer + km).toFixed(1))));
    yield { type: r.type, ts, seq, ...r.fields };
  }
}

function kindReading(
  kind: string,
  rng: RandomGenerator,
  between: (lo: number, hi: number, decimals?: number) => number,
  pick: <T>(xs: readonly T[]) => T,
  drive: (km: number) => number,
): { type: string; fields: Record<string, unknown> } {
  switch (kind) {
    case 'washer':
      return {
        type: 'cycle',
        fields: {
          program: pick(WASHER_PROGRAMS), load_kg: between(1.5, 9, 1), duration_s: uniformInt(rng, 1_800, 10_800),
          water_l: between(30, 80, 1), energy_kwh: between(0.3, 2.5), temp_c: pick([20, 30, 40, 60, 90]),
          spin_rpm: pick([800, 1000, 1200, 1400]), vibration_g: between(0.2, 2),
        },
      };
    case 'fridge':
      return {
        type: 'state',
        fields: {
          temp_c: between(3, 6, 1), freezer_temp_c: between(-20, -16, 1), door_openings: uniformInt(rng, 0, 12),
          door_open_s: between(0, 120, 0), compressor_duty: between(0.2, 0.7), energy_kwh: between(0.01, 0.05, 3),
        },
      };
    default: {
      const km = between(2, 60, 1);
      const speed = between(20, 90, 1);
      return {
        type: 'trip',
        fields: {
          distance_km: km, duration_s: Math.max(60, Math.round((km / speed) * 3_600)), avg_speed_kmh: speed,
          max_speed_kmh: Number((speed * between(1.2, 1.6)).toFixed(1)), harsh_brakes: uniformInt(rng, 0, 3),
          harsh_accels: uniformInt(rng, 0, 3), night_km: between(0, km / 3, 1), odometer_km: drive(km),
        },
      };
    }
  }
}

/** One reading as a line of the bridge's format (what firmware would print). */
export function formatLine(reading: Record<string, unknown>, format: LineFormat): string {
  if (format === 'json') return JSON.stringify(reading);
  return Object.entries(reading)
    .map(([k, v]) => (typeof v === 'string' && /[\s"\\]/.test(v) ? `${k}="${v.replace(/["\\]/g, '\\$&')}"` : `${k}=${String(v)}`))
    .join(' ');
}

export interface SimSerialOptions {
  path: string;
  baudRate: number;
  kind: string;
  seed: number;
  /** Lines per second. */
  rate: number;
  /** Stop after this many lines; unbounded when absent. */
  count?: number;
  format: LineFormat;
  /** Readings to write instead of the built-in ones (e.g. the fleet simulator's); the run ends with them. */
  readings?: Iterator<Record<string, unknown>> | AsyncIterator<Record<string, unknown>>;
  signal?: AbortSignal;
  onLine?(line: string, n: number): void;
}

export interface SimSerialResult {
  lines: number;
  byType: Record<string, number>;
  seconds: number;
}

/** Writes simulated readings to a serial port, paced at `rate`, until count or abort. */
export async function runSimSerial(o: SimSerialOptions): Promise<SimSerialResult> {
  if (!(o.rate > 0)) throw new UsageGatewayError('GW_ERR_USAGE', `--rate must be a positive number of lines per second, got ${o.rate}`);
  const readings = o.readings ?? simulatedReadings(o.kind, o.seed);
  const port = new SerialPort({ path: o.path, baudRate: o.baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err
    ? reject(new UsageGatewayError('GW_ERR_SERIAL_PORT', `cannot open ${o.path}: ${err.message.replace(/^Error: /, '')}`))
    : resolve())));
  const started = Date.now();
  const byType: Record<string, number> = {};
  let lines = 0;
  try {
    while ((o.count === undefined || lines < o.count) && !o.signal?.aborted) {
      const due = started + (lines * 1000) / o.rate;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (o.signal?.aborted) break;
      const next = await readings.next();
      if (next.done) break;
      const reading = next.value;
      const line = formatLine(reading, o.format);
      // Waiting for each write to drain is the tty's flow control reaching the simulator.
      await new Promise<void>((resolve, reject) => port.write(`${line}\n`, (err) => (err ? reject(err) : port.drain((e) => (e ? reject(e) : resolve())))));
      lines++;
      byType[reading.type as string] = (byType[reading.type as string] ?? 0) + 1;
      o.onLine?.(line, lines);
    }
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_SERIAL_PORT', `writing to ${o.path} failed after ${lines} lines: ${(err as Error).message}`);
  } finally {
    await new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r()));
  }
  return { lines, byType, seconds: (Date.now() - started) / 1000 };
}
