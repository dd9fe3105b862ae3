import type { MqttClient } from 'mqtt';
import { type InfluxStore } from '../../core/influx/index.ts';
import type { LoadDevice } from './fleet.ts';
import { histogram, percentiles, type Percentiles } from './stats.ts';

/**
 * Publish → queryable latency, sampled: one device publishes a reading every `everyMs` at
 * scheduled times (beside the load, on its own connection) and a poller asks InfluxDB for
 * that device's points every `pollMs`. A reading's latency runs from its scheduled send time
 * to the first poll that returned it, so the figure is at most one poll (plus the query) late.
 */
export class QueryableProbe {
  private h = histogram();
  private pending = new Map<number, number>();
  private seq = 0;
  private timers: NodeJS.Timeout[] = [];
  private polling = false;
  sent = 0;
  seen = 0;

  constructor(
    private readonly client: MqttClient, private readonly device: LoadDevice, private readonly store: InfluxStore,
    private readonly qos: 0 | 1, private readonly everyMs = 100, private readonly pollMs = 50,
  ) {}

  start(): void {
    const t0 = performance.now();
    let k = 0;
    const send = () => {
      const scheduled = t0 + k * this.everyMs;
      k++;
      const seq = ++this.seq;
      this.pending.set(seq, scheduled);
      this.sent++;
      const ts = Math.floor(performance.timeOrigin + scheduled);
      this.client.publish(this.device.topic, `{"ts":${ts},"seq":${seq},${this.device.bodies[seq % this.device.bodies.length]}}`, { qos: this.qos });
      this.timers[0] = setTimeout(send, Math.max(0, t0 + k * this.everyMs - performance.now()));
    };
    send();
    this.timers[1] = setInterval(() => void this.poll(), this.pollMs);
  }

  private async poll(): Promise<void> {
    if (this.polling || this.pending.size === 0) return;
    this.polling = true;
    try {
      const oldest = Math.min(...this.pending.values());
      const from = Math.floor(performance.timeOrigin + oldest) - 1;
      const measurement = this.device.kind === 'washer' ? 'washer_cycle' : this.device.kind === 'fridge' ? 'fridge_state' : 'car_trip';
      const rows = await this.store.query<{ seq: number }>(`SELECT "seq" FROM "${measurement}" WHERE "device_id" = '${this.device.id}' AND time >= ${from}ms`);
      const now = performance.now();
      for (const r of rows) {
        const scheduled = this.pending.get(Number(r.seq));
        if (scheduled === undefined) continue;
        this.pending.delete(Number(r.seq));
        this.seen++;
        this.h.recordValue(Math.max(1, Math.round((now - scheduled) * 1000)));
      }
    } catch { /* InfluxDB paused or busy: the readings stay pending and their latency grows */ } finally {
      this.polling = false;
    }
  }

  /** The latencies since the last take() (a step's figures). */
  take(): Percentiles | null {
    const p = percentiles(this.h);
    this.h = histogram();
    return p;
  }

  /** Stops sending, waits up to `waitMs` for the last readings to show. */
  async stop(waitMs = 10_000): Promise<void> {
    clearTimeout(this.timers[0]);
    const deadline = performance.now() + waitMs;
    while (this.pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, this.pollMs));
    clearInterval(this.timers[1]);
  }

  get missing(): number {
    return this.pending.size;
  }
}
