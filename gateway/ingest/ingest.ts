import type { Logger } from 'pino';
import type { ErrorCode } from '../../protocol/errors.ts';
import { decodeReadings, type ReadingError } from '../../protocol/readings.ts';
import type { ReadingChannel } from '../../protocol/topics.ts';
import { MAX_ERRORS_PER_ENTRY, payloadForStore, type DeadLetterStore } from '../deadletter/index.ts';
import type { Metrics } from '../metrics/index.ts';
import type { Registry } from '../../core/registry/index.ts';
import type { Spool } from '../spool/index.ts';
import { IngestQueue, type IngestQueueOptions } from './queue.ts';
import { isLate, lateMarkerLine, readingsToLines } from '../../core/influx/index.ts';
import { dayFloor } from '../../core/time.ts';

/** What a device is told on devices/{id}/rejected (docs/device-protocol.md). */
export interface RejectionNotice {
  code: ErrorCode;
  topic: string;
  messageId?: number;
  /** Readings of the message that were kept, and refused. */
  accepted: number;
  refused: number;
  errors: ReadingError[];
  /** Errors beyond the first MAX_LISTED_ERRORS (20), not listed. */
  moreErrors?: number;
  time: string;
}

export interface IngestOptions {
  registry: Registry;
  spool: Spool;
  deadletter: DeadLetterStore;
  metrics: Metrics;
  log: Logger;
  /** Publishes a notice on devices/{id}/rejected. */
  notify: (deviceId: string, notice: RejectionNotice) => void;
  maxPayloadBytes: number;
  maxAgeMs: number;
  maxFutureSkewMs: number;
  logEveryMs: number;
  queue: IngestQueueOptions;
}

export interface IngestMessage {
  deviceId: string;
  channel: ReadingChannel;
  topic: string;
  payload: Buffer;
  qos: number;
  messageId?: number;
}

/** A notice lists as many errors as a dead-letter entry keeps, so the two tell the same. */
const MAX_LISTED_ERRORS = MAX_ERRORS_PER_ENTRY;

/**
 * What `take` leaves to wait for: the message's valid readings and refusals on disk. An object,
 * because a promise resolved with a promise would wait for it, and the slot with it.
 */
interface Taken {
  kept: Promise<void>;
}

/**
 * Decode → validate → spool. Resolves once the message is in the gateway's keeping: the valid
 * readings in the spool (fsynced for QoS ≥ 1) and the refused ones in the dead-letter store.
 * Only then may the broker acknowledge. Rejects only when the message could not be kept
 * (I/O error), so that it is not acknowledged and the device sends it again.
 */
export class Ingest {
  private readonly options: IngestOptions;
  private readonly lastLogged = new Map<string, number>();
  /** Bounds the messages in work, waiting, and waiting for the disk; the broker stops reading while it is deep. */
  readonly queue: IngestQueue;

  constructor(opts: IngestOptions) {
    this.options = opts;
    this.queue = new IngestQueue({ ...opts.queue, onPause: () => opts.metrics.ingestPauses.inc() });
  }

  /** Takes a message in turn (see IngestQueue); a QoS 0 one is refused when the queue overflows. */
  handle(msg: IngestMessage): Promise<void> {
    if (msg.qos === 0 && this.queue.overflowing) {
      this.options.metrics.messagesIn.inc({ qos: '0' });
      return this.refuseWhole(msg, 'GW_ERR_INGEST_BUSY', `the gateway has ${this.queue.waitingCount} messages waiting to be stored (ingest.maxQueued); QoS 0 messages are refused until it catches up (use QoS 1 to be held instead)`, false, undefined, false);
    }
    // The queue's slot covers decoding and the hand-off to the spool; the wait for the disk is
    // held apart (IngestQueue.hold), so that slow commits do not cap the messages taken.
    return this.queue.run(() => this.take(msg)).then((taken) => this.queue.hold(taken.kept));
  }

  private async take(msg: IngestMessage): Promise<Taken> {
    const { registry, spool, metrics } = this.options;
    const receivedAtMs = Date.now();
    const device = registry.device(msg.deviceId);
    if (!device) throw new Error(`device ${msg.deviceId} is no longer registered`);
    metrics.messagesIn.inc({ qos: String(msg.qos) });
    const durable = msg.qos > 0;

    if (msg.payload.length > this.options.maxPayloadBytes) {
      return { kept: this.refuseWhole(msg, 'GW_ERR_PAYLOAD_TOO_LARGE', `payload of ${msg.payload.length} bytes is over the limit of ${this.options.maxPayloadBytes}`, durable) };
    }
    const result = decodeReadings(msg.payload, {
      kind: device.kind,
      channel: msg.channel,
      receivedAtMs,
      maxAgeMs: this.options.maxAgeMs,
      maxFutureSkewMs: this.options.maxFutureSkewMs,
    });
    if (result.refusedWhole) {
      const e = result.errors[0];
      return { kept: this.refuseWhole(msg, e.code, e.reason, durable, result.errors) };
    }

    const work: Promise<unknown>[] = [];
    if (result.readings.length > 0) {
      if (spool.full) {
        if (!durable) {
          return { kept: this.refuseWhole(msg, 'GW_ERR_SPOOL_FULL', 'the gateway spool is full; QoS 0 messages are refused until it drains (use QoS 1 to be held instead)', false, undefined, false) };
        }
        // Held, not refused: no PUBACK until there is room, so the device keeps the message.
        // It keeps its slot meanwhile, so the queue fills and reading stops (backpressure).
        // Every waiter wakes on each commit; those that find it full again wait again.
        metrics.backpressure.set(1);
        while (spool.full && !spool.isClosed) await spool.waitForSpace();
        metrics.backpressure.set(spool.full ? 1 : 0);
      }
      let lines = readingsToLines(result.readings, { deviceId: device.id, kind: device.kind, model: device.model });
      // A reading that arrives late for its day (more than an hour after the day ended) marks
      // that day for the analytics feature layer, in the same spool record: whoever sees the
      // marker in InfluxDB sees the reading too.
      const lateDays = new Set<number>();
      for (const r of result.readings) if (isLate(dayFloor(r.timeMs), receivedAtMs)) lateDays.add(dayFloor(r.timeMs));
      for (const day of lateDays) lines += `\n${lateMarkerLine(device.id, device.kind, day, receivedAtMs)}`;
      // The record's line count is every line in it, markers included: the writer counts the
      // points it wrote from it.
      work.push(spool.append(Buffer.from(lines), result.readings.length + lateDays.size, durable, receivedAtMs));
      for (const r of result.readings) metrics.readingsIn.inc({ kind: device.kind, measurement: r.def.measurement });
    }
    if (result.errors.length > 0) {
      const refusedReadings = new Set(result.errors.map((e) => e.index ?? 0)).size;
      for (const e of result.errors) metrics.readingsRefused.inc({ reason: e.code });
      work.push(this.options.deadletter.add({
        source: 'ingest', code: result.errors[0].code, reason: summarize(result.errors), deviceId: msg.deviceId,
        topic: msg.topic, errors: result.errors, ...payloadForStore(msg.payload),
      }).then((kept) => { if (kept) metrics.deadLettered.inc({ source: 'ingest' }); }));
      this.notify(msg, result.errors[0].code, result.readings.length, refusedReadings, result.errors);
    }
    const kept = Promise.all(work).then(() => {
      if (durable) metrics.ackLatency.observe((Date.now() - receivedAtMs) / 1000);
    });
    return { kept };
  }

  private async refuseWhole(
    msg: IngestMessage, code: ErrorCode, reason: string, durable: boolean, errors?: ReadingError[], keep = true,
  ): Promise<void> {
    this.options.metrics.messagesRefused.inc({ reason: code });
    const list = errors ?? [{ code, reason }];
    this.notify(msg, code, 0, 1, list);
    if (!keep) return;
    const entry = this.options.deadletter.add({ source: 'ingest', code, reason, deviceId: msg.deviceId, topic: msg.topic, errors: list, ...payloadForStore(msg.payload) })
      .then((kept) => { if (kept) this.options.metrics.deadLettered.inc({ source: 'ingest' }); });
    if (durable) await entry;
    else entry.catch((err) => this.options.log.error({ err }, 'cannot write to the dead-letter store'));
  }

  private notify(msg: IngestMessage, code: ErrorCode, accepted: number, refused: number, errors: ReadingError[]): void {
    this.options.notify(msg.deviceId, {
      code, topic: msg.topic, messageId: msg.messageId, accepted, refused,
      errors: errors.slice(0, MAX_LISTED_ERRORS),
      moreErrors: errors.length > MAX_LISTED_ERRORS ? errors.length - MAX_LISTED_ERRORS : undefined,
      time: new Date().toISOString(),
    });
    // Logged once per device per interval at most; always counted in metrics.
    const now = Date.now();
    const last = this.lastLogged.get(msg.deviceId) ?? 0;
    if (now - last >= this.options.logEveryMs) {
      if (this.lastLogged.size > 100_000) this.lastLogged.clear();
      this.lastLogged.set(msg.deviceId, now);
      this.options.log.warn({ deviceId: msg.deviceId, topic: msg.topic, code, accepted, refused, first: errors[0]?.reason }, 'refused readings from a device');
    }
  }
}

function summarize(errors: ReadingError[]): string {
  const first = errors[0];
  const where = first.index !== undefined ? `reading ${first.index}` : 'message';
  const field = first.field ? ` field ${first.field}` : '';
  return `${where}${field}: ${first.reason}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`;
}
