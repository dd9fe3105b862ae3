import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import type { Logger } from '../../core/log.ts';
import { backoffMs } from '../../core/retry.ts';
import { BoundedLineParser } from './line-parser.ts';

export interface PortLinkOptions {
  path: string;
  baudRate: number;
  rtscts: boolean;
  maxLineBytes: number;
  partialLineTimeoutMs: number;
  reconnect: { minMs: number; maxMs: number };
  log: Logger;
}

export interface PortLinkEvents {
  line: [line: Buffer];
  overlong: [bytes: number, head: Buffer];
  /** An unfinished line: the port was lost under it, or it went quiet. */
  partial: [bytes: Buffer, why: 'lost' | 'quiet'];
  open: [];
  lost: [err: Error | undefined];
  retry: [err: Error, attempt: number, delayMs: number];
}

/**
 * One serial port, kept open: framed lines out, and reopened with backoff and jitter when
 * it cannot be opened or goes away (USB unplugged, adapter reset). Never throws at its owner.
 */
export class PortLink extends EventEmitter<PortLinkEvents> {
  private readonly options: PortLinkOptions;
  private port?: SerialPort;
  private parser?: BoundedLineParser;
  private timer?: NodeJS.Timeout;
  private attempt = 0;
  private running = false;
  private paused = false;

  constructor(opts: PortLinkOptions) {
    super();
    this.options = opts;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.open();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const port = this.port;
    this.detach();
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Backpressure: stop taking lines off the port; the device is held back by the tty. */
  pause(): void {
    this.paused = true;
    this.parser?.hold(true);
    this.parser?.pause();
  }

  resume(): void {
    this.paused = false;
    this.parser?.hold(false);
    this.parser?.resume();
  }

  /** Writes one line (a line end is added); rejects when the port is not open. */
  write(line: string): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return Promise.reject(new Error(`${this.options.path} is not open`));
    return new Promise((resolve, reject) => {
      port.write(`${line}\n`, (err) => (err ? reject(err) : port.drain((e) => (e ? reject(e) : resolve()))));
    });
  }

  private open(): void {
    if (!this.running) return;
    const { path, baudRate, rtscts } = this.options;
    const port = new SerialPort({ path, baudRate, rtscts, autoOpen: false });
    this.port = port;
    port.open((err) => {
      if (!this.running || this.port !== port) {
        if (!err) port.close(() => {});
        return;
      }
      if (err) {
        this.port = undefined;
        this.retryLater(err);
        return;
      }
      this.attempt = 0;
      this.attach(port);
      this.emit('open');
    });
  }

  private attach(port: SerialPort): void {
    const parser = new BoundedLineParser({
      maxLineBytes: this.options.maxLineBytes,
      partialLineTimeoutMs: this.options.partialLineTimeoutMs,
      onOverlong: (bytes, head) => this.emit('overlong', bytes, head),
      onPartial: (bytes) => this.emit('partial', bytes, 'quiet'),
    });
    this.parser = parser;
    parser.on('data', (line: Buffer) => this.emit('line', line));
    port.pipe(parser);
    if (this.paused) this.pause();
    port.on('error', (err) => this.options.log.debug({ err, path: this.options.path }, 'serial port error'));
    port.once('close', (err?: Error) => {
      if (this.port !== port) return;
      const rest = parser.takePartial();
      if (rest.length > 0) this.emit('partial', rest, 'lost');
      this.detach();
      if (!this.running) return;
      this.emit('lost', err ?? undefined);
      this.retryLater(err ?? new Error('port closed'), true);
    });
  }

  private detach(): void {
    const { port, parser } = this;
    this.port = undefined;
    this.parser = undefined;
    if (port && parser) port.unpipe(parser);
    parser?.destroy();
  }

  /** Schedules the next open: after a loss at once-ish (minMs), after a failed open with backoff. */
  private retryLater(err: Error, afterLoss = false): void {
    let delayMs = this.options.reconnect.minMs;
    if (!afterLoss) {
      const attempt = ++this.attempt;
      delayMs = backoffMs(attempt - 1, this.options.reconnect);
      this.emit('retry', err, attempt, delayMs);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.open();
    }, delayMs);
  }
}
