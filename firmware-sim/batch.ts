import { PROTOCOL_LIMITS } from '../protocol/readings.ts';
import type { ReadingChannel } from '../protocol/topics.ts';
import type { DeviceSim, SimReading } from './generate.ts';
import { Rng } from './rng.ts';

/** One MQTT message a device sends: an array of readings of one channel. */
export interface Batch {
  deviceId: string;
  topic: string;
  channel: ReadingChannel;
  readings: SimReading[];
  payload: Buffer;
  /** The same message sent again (firmware that resends what was already acknowledged). */
  resend: boolean;
}

export interface BatchOptions {
  /** Most readings in one message (the protocol allows 1000). */
  maxReadings?: number;
  /** Most bytes in one message; kept well under the 256 KiB limit. */
  maxBytes?: number;
}

/** Share of messages a `resends` device sends twice. */
const RESEND_RATE = 0.2;

/**
 * A device's readings between two times cut into messages, in order. Telemetry and events go
 * to their own topics, so each channel fills its own message.
 */
export function* batches(sim: DeviceSim, seed: number, fromMs: number, toMs: number, o: BatchOptions = {}): Generator<Batch> {
  const maxReadings = Math.min(o.maxReadings ?? 500, PROTOCOL_LIMITS.maxReadingsPerMessage);
  const maxBytes = Math.min(o.maxBytes ?? 192 * 1024, PROTOCOL_LIMITS.maxPayloadBytes);
  const open = new Map<ReadingChannel, { readings: SimReading[]; parts: string[]; bytes: number; topic: string }>();
  const resends = sim.device.fault === 'resends' ? new Rng(seed, sim.device.id, 'resend', fromMs) : null;
  function* flush(channel: ReadingChannel): Generator<Batch> {
    const b = open.get(channel);
    if (!b || b.readings.length === 0) return;
    open.delete(channel);
    const batch: Batch = { deviceId: sim.device.id, topic: b.topic, channel, readings: b.readings, payload: Buffer.from(`[${b.parts.join(',')}]`), resend: false };
    yield batch;
    if (resends?.chance(RESEND_RATE)) yield { ...batch, resend: true };
  }
  for (const r of sim.readings(fromMs, toMs)) {
    const text = JSON.stringify(r.reading);
    let b = open.get(r.channel);
    if (b && (b.readings.length >= maxReadings || b.bytes + text.length + 1 > maxBytes)) {
      yield* flush(r.channel);
      b = undefined;
    }
    if (!b) {
      b = { readings: [], parts: [], bytes: 2, topic: r.topic };
      open.set(r.channel, b);
    }
    b.readings.push(r);
    b.parts.push(text);
    b.bytes += text.length + 1;
  }
  yield* flush('telemetry');
  yield* flush('events');
}

/** How many readings of a message the gateway should keep, refuse, or store only once. */
export function expectedOf(batch: Batch): { keep: number; refuse: number; duplicate: number } {
  let keep = 0;
  let refuse = 0;
  let duplicate = 0;
  for (const r of batch.readings) {
    if (batch.resend || r.expect === 'duplicate') duplicate++;
    else if (r.expect === 'ok') keep++;
    else refuse++;
  }
  // A resent message is refused again in the same places; those are refusals, not duplicates.
  if (batch.resend) {
    const refused = batch.readings.filter((r) => r.expect !== 'ok' && r.expect !== 'duplicate').length;
    duplicate -= refused;
    refuse += refused;
  }
  return { keep, refuse, duplicate };
}
