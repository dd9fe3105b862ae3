import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { UsageGatewayError } from '../protocol/errors.ts';
import type { SimReading } from './generate.ts';

/** `--out FILE.jsonl`: one line per reading, with its device and topic, instead of publishing. */
export class JsonlSink {
  private readonly stream: WriteStream;
  private failure: Error | null = null;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'w' });
    this.stream.on('error', (err) => (this.failure = err));
  }

  static line(r: SimReading): string {
    return `${JSON.stringify({ deviceId: r.deviceId, topic: r.topic, reading: r.reading })}\n`;
  }

  async write(readings: readonly SimReading[]): Promise<void> {
    this.check();
    if (!this.stream.write(readings.map(JsonlSink.line).join(''))) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    this.check();
    await new Promise<void>((resolve, reject) => this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())));
    this.check();
  }

  private check(): void {
    if (this.failure) throw new UsageGatewayError('GW_ERR_SIM_OUTPUT', `cannot write ${this.path}: ${this.failure.message}`);
  }
}
