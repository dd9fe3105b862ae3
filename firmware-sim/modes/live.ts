import { setTimeout as sleep } from 'node:timers/promises';
import type { Catalogue } from '../../protocol/models.ts';
import { SimClock } from '../clock.ts';
import { emptyFigures, type Figures } from '../figures.ts';
import type { Fleet } from '../fleet.ts';
import { DeviceSim, type SimReading } from '../generate.ts';
import { TimeHeap } from '../heap.ts';
import { DAY_MS } from '../personas.ts';
import { DeviceConnection } from '../publish.ts';
import { RateLimiter } from '../rate.ts';
import type { JsonlSink } from '../sink.ts';

export interface LiveOptions {
  fleet: Fleet;
  catalogue: Catalogue;
  target: { url: string; secrets: Map<string, string> } | { sink: JsonlSink };
  /** Simulated seconds per wall-clock second. */
  speed: number;
  /** Where the simulated clock starts (default: now). It never runs ahead of the wall clock. */
  fromMs?: number;
  durationMs?: number;
  connectRate: number;
  signal?: AbortSignal;
  /** Called every few seconds and at the end with the figures so far. */
  onStatus?: (s: LiveStatus) => void;
  statusEveryMs?: number;
}

export interface LiveStatus {
  figures: Figures;
  connected: number;
  simTimeMs: number;
}

/** Longest a scheduler sleep lasts, so stopping and clock catch-up stay prompt. */
const MAX_SLEEP_MS = 1_000;
/** Devices the scheduler serves in one turn of the event loop. */
const SLICE = 100;
/** Connections awaiting their CONNACK at once. */
const MAX_OPENING = 100;
/** Tries to connect a device before counting it failed. */
const OPEN_ATTEMPTS = 5;

interface Slot {
  sim: DeviceSim;
  /** Its readings from the start of the run on, opened when first due. */
  cursor: Iterator<SimReading> | null;
  next: SimReading | null;
  conn: DeviceConnection | null;
  /** Readings that fell due before the device was connected (firmware buffers them). */
  backlog: SimReading[];
}

/**
 * Devices online in real or compressed time. One scheduler and one timer for the whole
 * fleet: a min-heap of each device's next reading, woken for the earliest one. Devices connect
 * at a bounded rate, each as its own MQTT client, and send each reading as it happens.
 */
export async function runLive(o: LiveOptions): Promise<LiveStatus> {
  const f = emptyFigures('live', o.fleet.devices.length);
  const wallStart = Date.now();
  const simStart = o.fromMs ?? wallStart;
  const clock = new SimClock(simStart, o.speed, wallStart);
  const simNow = () => clock.now();
  const deadline = o.durationMs ? wallStart + o.durationMs : Infinity;
  const heap = new TimeHeap();
  const slots: Slot[] = o.fleet.devices.map((d) => ({ sim: new DeviceSim(o.fleet, d, o.catalogue), cursor: null, next: null, conn: null, backlog: [] }));
  // Each device starts generating when the scheduler first reaches it, a slice at a time, so a
  // large fleet starts connecting at once instead of after every device's first day is drawn.
  slots.forEach((_, i) => heap.push(simStart, i));

  const outstanding = new Set<Promise<void>>();
  let stopping = false;

  const send = (slot: Slot, readings: SimReading[]) => {
    for (const channel of ['telemetry', 'events'] as const) {
      const rs = readings.filter((r) => r.channel === channel);
      if (rs.length === 0) continue;
      f.sent += rs.length;
      if ('sink' in o.target) {
        const p = o.target.sink.write(rs).then(() => void (f.acked += rs.length));
        track(p);
        continue;
      }
      const payload = rs.length === 1 ? JSON.stringify(rs[0].reading) : `[${rs.map((r) => JSON.stringify(r.reading)).join(',')}]`;
      const p = slot.conn!.publish(rs[0].topic, payload).then(() => {
        f.acked += rs.length;
        f.messages++;
        f.bytes += payload.length;
        for (const r of rs) {
          if (r.expect === 'duplicate') f.duplicates++;
          else if (r.expect !== 'ok') f.expectedRefused++;
        }
      }, () => {});
      track(p);
    }
  };
  const track = (p: Promise<void>) => {
    const t = p.finally(() => outstanding.delete(t));
    outstanding.add(t);
  };

  // Connections: opened in the background at a bounded rate, with a bounded number awaiting
  // their CONNACK (more than the broker accepts per second would only time out); a device that
  // cannot connect tries again after a while, as firmware does, unless its credentials are
  // refused. Silent devices that have already gone quiet stay offline, as an unplugged one would.
  const stopCtl = new AbortController();
  const failures: string[] = [];
  const openOne = async (slot: Slot, url: string, secret: string): Promise<void> => {
    const d = slot.sim.device;
    for (let attempt = 1; ; attempt++) {
      try {
        const conn = await DeviceConnection.open({ url, deviceId: d.id, secret, reconnect: true, status: true, keepaliveS: 120 });
        if (stopping) return void (await conn.close());
        slot.conn = conn;
        if (slot.backlog.length > 0) send(slot, slot.backlog.splice(0));
        return;
      } catch (err) {
        if (stopping) return;
        const message = (err as Error).message;
        if (attempt >= OPEN_ATTEMPTS || /not authori[sz]ed|bad user ?name or password/i.test(message)) {
          f.failedDevices++;
          if (failures.length < 5) failures.push(message);
          return;
        }
        await sleep(1_000 * attempt * (1 + Math.random()), undefined, { signal: stopCtl.signal }).catch(() => {});
      }
    }
  };
  const connecting = (async () => {
    if ('sink' in o.target) return;
    const { url, secrets } = o.target;
    const limiter = new RateLimiter(o.connectRate);
    const opening = new Set<Promise<void>>();
    for (const slot of slots) {
      if (stopping) break;
      const d = slot.sim.device;
      // Silent, replaced or not yet bought: no connection (a silent device stays offline).
      if (!slot.sim.reports(simStart)) continue;
      while (opening.size >= MAX_OPENING) await Promise.race(opening);
      await limiter.take();
      const p: Promise<void> = openOne(slot, url, secrets.get(d.id) ?? '').finally(() => opening.delete(p));
      opening.add(p);
    }
    await Promise.all(opening);
  })();

  let timer: NodeJS.Timeout | null = null;
  let wake: (() => void) | null = null;
  const finished = new Promise<void>((resolve) => (wake = resolve));
  const tick = () => {
    timer = null;
    if (stopping) return;
    if (Date.now() >= deadline || o.signal?.aborted) return void stop();
    const now = simNow();
    for (let budget = SLICE; heap.peekTime() <= now && budget > 0; budget--) {
      const i = heap.pop()!;
      const slot = slots[i];
      if (!slot.cursor) {
        slot.cursor = slot.sim.readings(simStart, simStart + 3_650 * DAY_MS)[Symbol.iterator]();
        const r = slot.cursor.next();
        slot.next = r.done ? null : r.value;
      }
      const due: SimReading[] = [];
      while (slot.next && slot.next.timeMs <= now) {
        due.push(slot.next);
        const r = slot.cursor.next();
        slot.next = r.done ? null : r.value;
      }
      if (slot.next) heap.push(slot.next.timeMs, i);
      if (due.length === 0) continue;
      if ('sink' in o.target || slot.conn) send(slot, due);
      else if (slot.backlog.length < 10_000) slot.backlog.push(...due);
    }
    // More is due: let connections and acknowledgements through before the next slice.
    if (heap.peekTime() <= now) return void (timer = setTimeout(tick, 0));
    const wallUntilNext = clock.wallMsUntil(heap.peekTime());
    timer = setTimeout(tick, Math.max(1, Math.min(MAX_SLEEP_MS, wallUntilNext, deadline - Date.now())));
  };
  const stop = () => {
    if (stopping) return;
    stopping = true;
    stopCtl.abort();
    if (timer) clearTimeout(timer);
    wake?.();
  };
  o.signal?.addEventListener('abort', stop, { once: true });
  const status = (): LiveStatus => ({
    figures: {
      ...f, durationMs: Date.now() - wallStart, rate: Math.round(f.acked / Math.max(0.001, (Date.now() - wallStart) / 1000)),
      refused: slots.reduce((n, s) => n + (s.conn?.rejections.refused ?? 0), 0),
      ...(failures.length > 0 ? { failures: [...failures] } : {}),
    },
    connected: slots.reduce((n, s) => n + (s.conn?.connected ? 1 : 0), 0),
    simTimeMs: simNow(),
  });
  const statusTimer = o.onStatus ? setInterval(() => o.onStatus!(status()), o.statusEveryMs ?? 10_000) : null;
  statusTimer?.unref();
  tick();
  await finished;
  if (statusTimer) clearInterval(statusTimer);
  await connecting;
  await Promise.race([Promise.all(outstanding), new Promise((r) => setTimeout(r, 10_000).unref())]);
  const end = status();
  await Promise.all(slots.map((s) => s.conn?.close(true)));
  end.figures.kept = end.figures.acked - end.figures.refused - end.figures.duplicates;
  o.onStatus?.(end);
  return end;
}
