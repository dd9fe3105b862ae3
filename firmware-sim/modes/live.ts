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
 *
 * Construct (no I/O), `start()`, then await `ended` or call `stop()`; the run also ends at
 * `durationMs` or when `signal` aborts. Either way it waits for the acknowledgements in flight
 * (at most 10 s) and closes every connection.
 */
export class LiveFleet {
  /** The figures of the run when it has ended, connections closed. */
  readonly ended: Promise<LiveStatus>;
  private readonly options: LiveOptions;
  private readonly figures: Figures;
  private readonly slots: Slot[];
  private readonly heap = new TimeHeap();
  private readonly outstanding = new Set<Promise<void>>();
  private readonly stopCtl = new AbortController();
  private readonly failures: string[] = [];
  private clock: SimClock;
  private wallStart: number;
  private simStart: number;
  private deadline = Infinity;
  private started = false;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> = Promise.resolve();
  private begin!: () => void;
  private wake!: () => void;

  constructor(options: LiveOptions) {
    this.options = options;
    this.figures = emptyFigures('live', options.fleet.devices.length);
    this.wallStart = Date.now();
    this.simStart = options.fromMs ?? this.wallStart;
    this.clock = new SimClock(this.simStart, options.speed, this.wallStart);
    this.slots = options.fleet.devices.map((d) => ({ sim: new DeviceSim(options.fleet, d, options.catalogue), cursor: null, next: null, conn: null, backlog: [] }));
    const begun = new Promise<void>((resolve) => (this.begin = resolve));
    const woken = new Promise<void>((resolve) => (this.wake = resolve));
    this.ended = begun.then(() => woken).then(() => this.finish());
  }

  /** Starts the clock, the scheduler and the connections. */
  start(): void {
    if (this.started) throw new Error('LiveFleet: start() was called twice');
    this.started = true;
    const o = this.options;
    this.wallStart = Date.now();
    this.simStart = o.fromMs ?? this.wallStart;
    this.clock = new SimClock(this.simStart, o.speed, this.wallStart);
    this.deadline = o.durationMs ? this.wallStart + o.durationMs : Infinity;
    // Each device starts generating when the scheduler first reaches it, a slice at a time, so a
    // large fleet starts connecting at once instead of after every device's first day is drawn.
    this.slots.forEach((_, i) => this.heap.push(this.simStart, i));
    this.begin();
    if (this.stopping) return this.wake();
    this.connecting = this.connectAll();
    o.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    if (o.onStatus) {
      this.statusTimer = setInterval(() => o.onStatus!(this.status()), o.statusEveryMs ?? 10_000);
      this.statusTimer.unref();
    }
    this.tick();
  }

  /** Ends the run (idempotent); resolves with its figures once it has ended. */
  stop(): Promise<LiveStatus> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopCtl.abort();
      if (this.timer) clearTimeout(this.timer);
      this.wake();
    }
    if (!this.started) this.start();
    return this.ended;
  }

  /** The figures so far. */
  status(): LiveStatus {
    const f = this.figures;
    const elapsedMs = Date.now() - this.wallStart;
    return {
      figures: {
        ...f, durationMs: elapsedMs, rate: Math.round(f.acked / Math.max(0.001, elapsedMs / 1000)),
        refused: this.slots.reduce((n, s) => n + (s.conn?.rejections.refused ?? 0), 0),
        ...(this.failures.length > 0 ? { failures: [...this.failures] } : {}),
      },
      connected: this.slots.reduce((n, s) => n + (s.conn?.connected ? 1 : 0), 0),
      simTimeMs: this.clock.now(),
    };
  }

  private async finish(): Promise<LiveStatus> {
    if (this.statusTimer) clearInterval(this.statusTimer);
    await this.connecting;
    await Promise.race([Promise.all(this.outstanding), new Promise((r) => setTimeout(r, 10_000).unref())]);
    const end = this.status();
    await Promise.all(this.slots.map((s) => s.conn?.close(true)));
    end.figures.kept = end.figures.acked - end.figures.refused - end.figures.duplicates;
    this.options.onStatus?.(end);
    return end;
  }

  private send(slot: Slot, readings: SimReading[]): void {
    const { target } = this.options;
    const f = this.figures;
    for (const channel of ['telemetry', 'events'] as const) {
      const rs = readings.filter((r) => r.channel === channel);
      if (rs.length === 0) continue;
      f.sent += rs.length;
      if ('sink' in target) {
        this.track(target.sink.write(rs).then(() => void (f.acked += rs.length)));
        continue;
      }
      const payload = rs.length === 1 ? JSON.stringify(rs[0].reading) : `[${rs.map((r) => JSON.stringify(r.reading)).join(',')}]`;
      this.track(slot.conn!.publish(rs[0].topic, payload).then(() => {
        f.acked += rs.length;
        f.messages++;
        f.bytes += payload.length;
        for (const r of rs) {
          if (r.expect === 'duplicate') f.duplicates++;
          else if (r.expect !== 'ok') f.expectedRefused++;
        }
      }, () => {}));
    }
  }

  private track(p: Promise<void>): void {
    const t = p.finally(() => this.outstanding.delete(t));
    this.outstanding.add(t);
  }

  // Connections: opened in the background at a bounded rate, with a bounded number awaiting
  // their CONNACK (more than the broker accepts per second would only time out); a device that
  // cannot connect tries again after a while, as firmware does, unless its credentials are
  // refused. Silent devices that have already gone quiet stay offline, as an unplugged one would.
  private async openOne(slot: Slot, url: string, secret: string): Promise<void> {
    const d = slot.sim.device;
    for (let attempt = 1; ; attempt++) {
      try {
        const conn = await DeviceConnection.open({ url, deviceId: d.id, secret, reconnect: true, status: true, keepaliveS: 120 });
        if (this.stopping) return void (await conn.close());
        slot.conn = conn;
        if (slot.backlog.length > 0) this.send(slot, slot.backlog.splice(0));
        return;
      } catch (err) {
        if (this.stopping) return;
        const message = (err as Error).message;
        if (attempt >= OPEN_ATTEMPTS || /not authori[sz]ed|bad user ?name or password/i.test(message)) {
          this.figures.failedDevices++;
          if (this.failures.length < 5) this.failures.push(message);
          return;
        }
        await sleep(1_000 * attempt * (1 + Math.random()), undefined, { signal: this.stopCtl.signal }).catch(() => {});
      }
    }
  }

  private async connectAll(): Promise<void> {
    const { target, connectRate } = this.options;
    if ('sink' in target) return;
    const { url, secrets } = target;
    const limiter = new RateLimiter(connectRate);
    const opening = new Set<Promise<void>>();
    for (const slot of this.slots) {
      if (this.stopping) break;
      const d = slot.sim.device;
      // Silent, replaced or not yet bought: no connection (a silent device stays offline).
      if (!slot.sim.reports(this.simStart)) continue;
      while (opening.size >= MAX_OPENING) await Promise.race(opening);
      await limiter.take();
      const p: Promise<void> = this.openOne(slot, url, secrets.get(d.id) ?? '').finally(() => opening.delete(p));
      opening.add(p);
    }
    await Promise.all(opening);
  }

  private readonly tick = (): void => {
    this.timer = null;
    if (this.stopping) return;
    if (Date.now() >= this.deadline || this.options.signal?.aborted) return void this.stop();
    const { heap, slots, simStart } = this;
    const now = this.clock.now();
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
      if ('sink' in this.options.target || slot.conn) this.send(slot, due);
      else if (slot.backlog.length < 10_000) slot.backlog.push(...due);
    }
    // More is due: let connections and acknowledgements through before the next slice.
    if (heap.peekTime() <= now) return void (this.timer = setTimeout(this.tick, 0));
    const wallUntilNext = this.clock.wallMsUntil(heap.peekTime());
    this.timer = setTimeout(this.tick, Math.max(1, Math.min(MAX_SLEEP_MS, wallUntilNext, this.deadline - Date.now())));
  };
}
