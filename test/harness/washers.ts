import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readingsToLines } from '../../core/influx/index.ts';
import type { InfluxStore } from '../../core/influx/index.ts';
import { readingsFor } from '../../protocol/kinds/index.ts';
import type { Reading } from '../../protocol/readings.ts';
import type { Trigger } from '../../protocol/trigger.ts';

const DAY = 86_400_000;

/**
 * One washer's history drawn by hand, day by day before `endMs`: the cycles of each day with
 * their load, and the days an error was reported. For the policy cases that need a device to
 * show two things at once (overloaded and faulty, fading and faulty, replaced and silent).
 */
export interface WasherPlan {
  id: string;
  model?: string;
  /** Days before the end (1 = the last complete day) with one cycle each, and its load in kg. */
  cycles: Array<[daysAgo: number, loadKg: number]>;
  /** Days before the end on which error E21 was reported. */
  errors?: number[];
}

export const range = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => from - i);

export async function writeWasher(store: InfluxStore, p: WasherPlan, endMs: number): Promise<void> {
  const cycle = readingsFor('washer', 'telemetry')!.get('cycle')!;
  const error = readingsFor('washer', 'events')!.get('error')!;
  const readings: Reading[] = [
    ...p.cycles.map(([ago, load], i) => ({ def: cycle, timeMs: endMs - ago * DAY + 9 * 3_600_000, seq: i, values: {
      program: 'cotton', load_kg: load, duration_s: 5_400, water_l: 50, energy_kwh: 0.9, temp_c: 40, spin_rpm: 1_200, vibration_g: 0.5,
    } })),
    ...(p.errors ?? []).map((ago) => ({ def: error, timeMs: endMs - ago * DAY + 13 * 3_600_000, values: { code: 'E21', severity: 'warning' } })),
  ];
  const res = await store.write(readingsToLines(readings, { deviceId: p.id, kind: 'washer', model: p.model ?? 'WM-8' }));
  if (!res.ok) throw new Error(`write failed: ${res.error}`);
}

/** Cycles over the washer's 8 kg capacity every day from `from` to `to` days ago. */
export const overloaded = (from: number, to = 1): Array<[number, number]> => range(from, to).map((d) => [d, 9.6]);
/** Ordinary cycles (5 kg) on the given days. */
export const ordinary = (days: number[]): Array<[number, number]> => days.map((d) => [d, 5]);

/** A webhook receiver that keeps every trigger it was sent, with the path it came to. */
export interface Hook {
  url: string;
  received: Array<{ path: string; trigger: Trigger }>;
  close(): Promise<void>;
}

export async function hook(): Promise<Hook> {
  const received: Hook['received'] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', trigger: JSON.parse(Buffer.concat(parts).toString()) });
      res.writeHead(201).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
