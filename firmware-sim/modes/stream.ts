import type { Catalogue } from '../../protocol/models.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { batches, expectedOf, type BatchOptions } from '../batch.ts';
import { emptyFigures, latencyHistogram, latencySummary, type Figures } from '../figures.ts';
import type { Fleet } from '../fleet.ts';
import { DeviceSim, HISTORY_DAYS } from '../generate.ts';
import { DAY_MS } from '../personas.ts';
import type { Progress } from '../progress.ts';
import { DeviceConnection } from '../publish.ts';
import { RateLimiter } from '../rate.ts';
import type { JsonlSink } from '../sink.ts';

export interface StreamOptions {
  mode: string;
  fleet: Fleet;
  catalogue: Catalogue;
  fromMs: number;
  toMs: number;
  /** Where readings go: the broker (with the fleet's secrets) or a JSON-lines file. */
  target: { url: string; secrets: Map<string, string> } | { sink: JsonlSink };
  /** Devices connected and publishing at once. */
  concurrency: number;
  /** QoS 1 messages awaiting PUBACK per device. */
  inflight: number;
  /** New connections per second. */
  connectRate: number;
  batch: BatchOptions;
  /** Readings per second offered in all (load); unset: as fast as the gateway acknowledges. */
  rate?: number;
  /** Stop publishing after this many ms (load). */
  durationMs?: number;
  /**
   * When every device has sent its range before the time is up, go round again with the range
   * before it (load), back to `oldestMs`: readings stay distinct, so each is stored, never
   * overwritten.
   */
  repeat?: boolean;
  /** Earliest reading time a repeat may reach (the gateway refuses readings past its retention). */
  oldestMs?: number;
  latency?: boolean;
  progress?: Progress;
  signal?: AbortSignal;
  /** How long to wait after the last PUBACK for the notices of refused readings. */
  noticeWaitMs?: number;
}

/**
 * Sends each device's readings of a time range through the gateway as the device itself, many
 * devices at once but a bounded number of connections and messages in flight. Backfill and
 * load are this, with or without pacing.
 */
export async function streamFleet(o: StreamOptions): Promise<Figures> {
  const f = emptyFigures(o.mode, o.fleet.devices.length);
  const started = performance.now();
  const deadline = o.durationMs ? started + o.durationMs : Infinity;
  const readingsLimiter = new RateLimiter(o.rate ?? 0);
  const connectLimiter = new RateLimiter(o.connectRate);
  const histogram = o.latency ? latencyHistogram() : null;
  const stopped = () => o.signal?.aborted || performance.now() >= deadline;
  const n = o.fleet.devices.length;
  const span = o.toMs - o.fromMs;
  const oldest = Math.max(o.oldestMs ?? -Infinity, o.fleet.epochMs - (HISTORY_DAYS - 1) * DAY_MS);
  const rounds = o.repeat ? Math.max(1, Math.floor((o.toMs - oldest) / span)) : 1;
  // A timed run shows progress in seconds; otherwise in devices done.
  const byTime = o.repeat && Number.isFinite(deadline);
  const total = byTime ? Math.round(o.durationMs! / 1000) : n;
  let next = 0;
  let done = 0;
  let fatal: Error | null = null;
  /** Devices publishing right now: one device never holds two connections (same client id). */
  const running = new Map<number, Promise<void>>();

  const report = () => o.progress?.update({
    done: byTime ? Math.min(total, Math.floor((performance.now() - started) / 1000)) : done, total,
    readings: f.sent, acked: f.acked, refused: f.refused, rate: f.acked / Math.max(0.001, (performance.now() - started) / 1000),
  });
  const ticker = setInterval(report, 250);
  ticker.unref();

  const account = (b: ReturnType<typeof expectedOf>, n: number, bytes: number) => {
    f.acked += n;
    f.messages++;
    f.bytes += bytes;
    f.expectedRefused += b.refuse;
    f.duplicates += b.duplicate;
  };

  async function runDevice(index: number): Promise<void> {
    const device = o.fleet.devices[index % n];
    const sim = new DeviceSim(o.fleet, device, o.catalogue);
    const shift = Math.floor(index / n) * span;
    const fromMs = o.fromMs - shift;
    const toMs = o.toMs - shift;
    if ('sink' in o.target) {
      for (const batch of batches(sim, o.fleet.seed, fromMs, toMs, o.batch)) {
        if (stopped()) break;
        await o.target.sink.write(batch.readings);
        f.sent += batch.readings.length;
        account(expectedOf(batch), batch.readings.length, batch.payload.length);
      }
      return;
    }
    const secret = o.target.secrets.get(device.id);
    if (!secret) throw new UsageGatewayError('GW_ERR_SIM_FLEET', `no secret for device ${device.id} in the fleet file`);
    await connectLimiter.take();
    const conn = await DeviceConnection.open({ url: o.target.url, deviceId: device.id, secret });
    const pending = new Set<Promise<void>>();
    let failure: Error | null = null;
    let refusedExpected = 0;
    try {
      for (const batch of batches(sim, o.fleet.seed, fromMs, toMs, o.batch)) {
        if (stopped() || failure) break;
        const n = batch.readings.length;
        await readingsLimiter.take(n);
        while (pending.size >= o.inflight) await Promise.race(pending);
        const t0 = performance.now();
        f.sent += n;
        const expected = expectedOf(batch);
        refusedExpected += expected.refuse;
        // Only figures are kept past the publish, not the batch's readings (memory stays bounded by the payloads in flight).
        const bytes = batch.payload.length;
        const p = conn.publish(batch.topic, batch.payload).then(
          () => {
            histogram?.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            account(expected, n, bytes);
          },
          (err: Error) => {
            failure ??= err;
          },
        );
        const tracked = p.finally(() => pending.delete(tracked));
        pending.add(tracked);
      }
      await Promise.all(pending);
      // The gateway tells a device what it refused before it acknowledges; wait for those notices.
      await conn.awaitRejections(refusedExpected, o.noticeWaitMs ?? 5_000);
      f.refused += conn.rejections.refused;
      if (failure) throw failure;
    } finally {
      await conn.close();
    }
  }

  async function worker(): Promise<void> {
    while (!fatal && !stopped()) {
      const index = next++;
      if (index >= n * rounds) return;
      const d = index % n;
      while (running.has(d)) await running.get(d);
      if (fatal || stopped()) return;
      const run = runDevice(index).catch((err: Error) => {
        f.failedDevices++;
        failures.push(err);
        // Nothing connects at all: the gateway is down or the fleet is not provisioned there.
        if (f.acked === 0 && f.failedDevices >= Math.min(3, n)) fatal = err;
        if (err instanceof UsageGatewayError && err.code !== 'GW_ERR_SIM_CONNECT') fatal = err;
      });
      running.set(d, run);
      await run;
      running.delete(d);
      if (index < n) done++;
    }
  }

  const failures: Error[] = [];
  o.progress?.start(total);
  try {
    const workers = 'sink' in o.target ? 1 : Math.max(1, Math.min(o.concurrency, n));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    clearInterval(ticker);
    report();
    o.progress?.stop();
  }
  if (fatal) throw fatal;
  f.durationMs = performance.now() - started;
  f.kept = f.acked - f.refused - f.duplicates;
  f.rate = Math.round(f.acked / Math.max(0.001, f.durationMs / 1000));
  if (histogram) f.latencyMs = latencySummary(histogram);
  if (failures.length > 0) f.failures = [...new Set(failures.map((e) => e.message))].slice(0, 5);
  return f;
}
