import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../../protocol/errors.ts';
import type { ReadingChannel } from '../../protocol/topics.ts';
import { payloadForStore, type DeadLetterStore } from '../deadletter/index.ts';
import type { Logger } from '../../core/log.ts';
import { LineDecoder, type LineFormat } from './decode.ts';
import { PortLink } from './port-link.ts';
import { Publisher } from './publisher.ts';
import { RateLimitedLog } from './rate-log.ts';

export interface BridgeOptions {
  path: string;
  baudRate: number;
  deviceId: string;
  secret: string;
  kind?: string;
  format: LineFormat;
  fieldMap: Readonly<Record<string, string>>;
  writeBack: boolean;
  rtscts: boolean;
  reconnect: { minMs: number; maxMs: number };
  limits: { maxLineBytes: number; queueLines: number; maxInFlight: number; partialLineTimeoutMs: number };
  /** Broker URL, or a function opening an in-memory connection to the local broker. */
  mqttUrl?: string;
  connectStream?: () => Duplex;
  deadletter: DeadLetterStore;
  log: Logger;
  /** Refusals of one kind are logged at most this often (always counted). */
  logEveryMs?: number;
}

export interface BridgeStats {
  path: string;
  deviceId: string;
  portOpen: boolean;
  mqttConnected: boolean;
  /** Subscribed to devices/{id}/rejected (and commands/# with write-back). */
  subscribed: boolean;
  opens: number;
  losses: number;
  lines: number;
  ignored: number;
  published: number;
  acknowledged: number;
  /** Lines the bridge refused, by code (bad bytes, syntax, too long, cut off, queue full). */
  refused: Record<string, number>;
  /** Readings the gateway refused (from devices/{id}/rejected). */
  refusedByGateway: number;
  deadLettered: number;
  commandsWritten: number;
  commandsRefused: number;
  queueDepth: number;
  inFlight: number;
  paused: boolean;
  /** Times reading from the port was paused because the queue was full. */
  pauses: number;
}

export interface BridgeEvents {
  /** A line was refused, after the dead-letter write; `kept` is false when the store was at its size limit. */
  refused: [code: ErrorCode, reason: string, kept: boolean];
  /** The gateway acknowledged a reading. */
  acknowledged: [];
  open: [];
  lost: [];
}

interface Queued {
  channel: ReadingChannel;
  payload: Buffer;
}

/**
 * One serial port bridged into the gateway as one device:
 *   port → bounded line framing → decode (JSON | key=value, field map) → bounded queue
 *   → MQTT QoS 1 as the device (channel by reading type)
 * Whatever a line does wrong is counted, logged (rate-limited) and dead-lettered with source
 * `serial`, and the next line is read. Construct (no I/O) → start() → stop().
 */
export class SerialBridge extends EventEmitter<BridgeEvents> {
  private readonly options: BridgeOptions;
  private readonly log: Logger;
  private readonly decoder: LineDecoder;
  private readonly link: PortLink;
  private readonly publisher: Publisher;
  private readonly rateLog: RateLimitedLog;
  private readonly queue: Queued[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private inFlight = 0;
  private paused = false;
  private running = false;
  private readonly s = {
    opens: 0, losses: 0, pauses: 0, lines: 0, ignored: 0, published: 0, acknowledged: 0,
    refused: {} as Record<string, number>, refusedByGateway: 0, deadLettered: 0, commandsWritten: 0, commandsRefused: 0,
  };

  constructor(opts: BridgeOptions) {
    super();
    this.options = opts;
    this.log = opts.log.child({ port: opts.path, deviceId: opts.deviceId });
    this.decoder = new LineDecoder({ format: opts.format, fieldMap: opts.fieldMap, kind: opts.kind });
    this.rateLog = new RateLimitedLog(this.log, opts.logEveryMs ?? 10_000);
    this.link = new PortLink({
      path: opts.path, baudRate: opts.baudRate, rtscts: opts.rtscts, reconnect: opts.reconnect,
      maxLineBytes: opts.limits.maxLineBytes, partialLineTimeoutMs: opts.limits.partialLineTimeoutMs,
      log: this.log,
    });
    this.publisher = new Publisher({
      deviceId: opts.deviceId, secret: opts.secret, url: opts.mqttUrl, connectStream: opts.connectStream,
      commands: opts.writeBack, log: this.log,
      onCommand: (sub, payload) => this.writeCommand(sub, payload),
      onRejected: (notice) => this.onRejected(notice),
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const { link, log } = this;
    link.on('open', () => {
      this.s.opens++;
      log.info({ baudRate: this.options.baudRate, format: this.options.format, reopen: this.s.opens > 1 }, 'serial port open');
      this.emit('open');
    });
    link.on('lost', (err) => {
      this.s.losses++;
      log.warn({ err: err?.message, code: 'GW_ERR_SERIAL_PORT' }, 'serial port lost (unplugged?); reopening with backoff');
      this.emit('lost');
    });
    link.on('retry', (err, attempt, delayMs) => {
      // The first failure and then every tenth, so an unplugged adapter does not flood the log.
      if (attempt === 1 || attempt % 10 === 0) log.warn({ err: err.message, attempt, delayMs, code: 'GW_ERR_SERIAL_PORT' }, 'cannot open the serial port; retrying');
    });
    link.on('line', (line) => this.onLine(line));
    link.on('overlong', (bytes, head) => {
      this.s.lines++;
      this.refuse('GW_ERR_SERIAL_LINE_TOO_LONG', `line of ${bytes} bytes is longer than the limit of ${this.options.limits.maxLineBytes}; dropped up to its end (first ${head.length} bytes kept)`, head);
    });
    link.on('partial', (bytes, why) => {
      this.s.lines++;
      this.refuse('GW_ERR_SERIAL_PARTIAL_LINE', why === 'lost'
        ? `the port was lost ${bytes.length} bytes into a line`
        : `${bytes.length} bytes without a line end for ${this.options.limits.partialLineTimeoutMs} ms`, bytes);
    });
    this.publisher.start();
    link.start();
  }

  /** Closes the port, waits up to deadlineMs for queued readings to be acknowledged, disconnects. */
  async stop(deadlineMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.link.stop();
    const deadline = Date.now() + deadlineMs;
    while ((this.queue.length > 0 || this.inFlight > 0) && this.publisher.connected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.publisher.stop();
    // What the gateway never acknowledged is kept, not dropped.
    for (const q of this.queue.splice(0)) {
      this.refuse('GW_ERR_SERIAL_UNSENT', 'the bridge stopped before the gateway acknowledged this reading', q.payload);
    }
    await Promise.allSettled([...this.pending]);
    this.log.info({ stats: this.stats() }, 'serial bridge stopped');
  }

  stats(): BridgeStats {
    return {
      path: this.options.path, deviceId: this.options.deviceId,
      portOpen: this.link.isOpen, mqttConnected: this.publisher.connected, subscribed: this.publisher.subscribed,
      ...this.s, refused: { ...this.s.refused },
      queueDepth: this.queue.length, inFlight: this.inFlight, paused: this.paused,
    };
  }

  private onLine(line: Buffer): void {
    this.s.lines++;
    const d = this.decoder.decode(line);
    if (d.status === 'ignored') {
      this.s.ignored++;
      return;
    }
    if (d.status === 'refused') {
      this.refuse(d.code, d.reason, line);
      return;
    }
    const payload = Buffer.from(JSON.stringify(d.reading));
    const { queueLines } = this.options.limits;
    if (this.queue.length >= queueLines) {
      // Only when the port hands over more than it was asked to (a chunk of many lines).
      this.refuse('GW_ERR_SERIAL_QUEUE_FULL', `the queue holds ${queueLines} readings waiting for the gateway`, payload);
      return;
    }
    this.queue.push({ channel: d.channel, payload });
    if (this.queue.length >= queueLines && !this.paused) {
      this.paused = true;
      this.s.pauses++;
      this.link.pause();
      this.rateLog.warn('paused', { queueLines, mqttConnected: this.publisher.connected }, 'queue full: reading from the serial port paused until the gateway catches up');
    }
    this.pump();
  }

  private pump(): void {
    const { maxInFlight, queueLines } = this.options.limits;
    while (this.inFlight < maxInFlight && this.queue.length > 0) {
      const q = this.queue.shift()!;
      this.inFlight++;
      this.s.published++;
      const p = this.publisher.publish(q.channel, q.payload).then(
        () => {
          this.s.acknowledged++;
          this.emit('acknowledged');
        },
        (err: Error) => this.refuse('GW_ERR_SERIAL_UNSENT', `not acknowledged by the gateway before the bridge stopped: ${err.message}`, q.payload),
      ).finally(() => {
        this.pending.delete(p);
        this.inFlight--;
        if (this.paused && this.running && this.queue.length <= queueLines / 2) {
          this.paused = false;
          this.link.resume();
        }
        this.pump();
      });
      this.pending.add(p);
    }
  }

  /** Count, log (rate-limited) and dead-letter; never throws, never stops the bridge. */
  private refuse(code: ErrorCode, reason: string, bytes: Uint8Array): void {
    this.s.refused[code] = (this.s.refused[code] ?? 0) + 1;
    this.rateLog.warn(code, { code, reason }, 'serial line refused');
    const p = this.options.deadletter.add({
      source: 'serial', code, reason, deviceId: this.options.deviceId, topic: `serial:${this.options.path}`, ...payloadForStore(bytes),
    }).then(
      (kept) => {
        if (kept) this.s.deadLettered++;
        this.emit('refused', code, reason, kept);
      },
      (err: Error) => this.log.error({ err, code }, 'cannot write to the dead-letter store; the refused line is in this log only'),
    ).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private onRejected(notice: Record<string, unknown>): void {
    const n = typeof notice.refused === 'number' ? notice.refused : 1;
    this.s.refusedByGateway += n;
    this.rateLog.warn(`rejected:${String(notice.code)}`, { notice }, 'the gateway refused readings from this port (kept in its dead-letter store)');
  }

  private writeCommand(sub: string, payload: Buffer): void {
    let text: string | undefined;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
    } catch {
      text = undefined;
    }
    const problem = text === undefined ? 'not UTF-8'
      : /[\r\n]/.test(text) ? 'more than one line'
      : payload.length > this.options.limits.maxLineBytes ? `longer than ${this.options.limits.maxLineBytes} bytes` : undefined;
    if (problem) {
      this.s.commandsRefused++;
      this.rateLog.warn('command', { command: sub, code: 'GW_ERR_SERIAL_COMMAND' }, `command not written to the port: ${problem}`);
      return;
    }
    this.link.write(text!).then(
      () => {
        this.s.commandsWritten++;
        this.log.info({ command: sub, bytes: payload.length }, 'command written to the serial port');
      },
      (err: Error) => {
        this.s.commandsRefused++;
        this.rateLog.warn('command', { command: sub, err: err.message, code: 'GW_ERR_SERIAL_COMMAND' }, 'command not written to the port');
      },
    );
  }
}
