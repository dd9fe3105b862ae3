import { SingleBar } from 'cli-progress';

export interface ProgressFigures {
  done: number;
  total: number;
  readings: number;
  acked: number;
  refused: number;
  rate: number;
}

/**
 * Progress on stderr: a bar when stderr is a terminal, otherwise a plain line every few
 * seconds (logs and CI stay readable). Silent with `quiet`.
 */
export class Progress {
  private bar: SingleBar | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last: ProgressFigures | null = null;

  constructor(private readonly label: string, private readonly unit: string, private readonly quiet = false, private readonly everyMs = 5_000) {}

  start(total: number): void {
    if (this.quiet) return;
    if (process.stderr.isTTY) {
      this.bar = new SingleBar({
        stream: process.stderr,
        format: `${this.label} |{bar}| {value}/{total} ${this.unit} | {readings} readings | {rate}/s | acked {acked} | refused {refused}`,
        hideCursor: true,
        etaBuffer: 50,
      });
      this.bar.start(total, 0, { readings: 0, rate: 0, acked: 0, refused: 0 });
    } else {
      this.timer = setInterval(() => this.line(), this.everyMs);
      this.timer.unref();
    }
  }

  update(f: ProgressFigures): void {
    this.last = f;
    this.bar?.update(f.done, { readings: f.readings, rate: Math.round(f.rate), acked: f.acked, refused: f.refused });
  }

  stop(): void {
    this.bar?.stop();
    if (this.timer) clearInterval(this.timer);
    this.bar = null;
    this.timer = null;
  }

  private line(): void {
    const f = this.last;
    if (!f) return;
    process.stderr.write(`${this.label}: ${f.done}/${f.total} ${this.unit}, ${f.readings} readings sent, ${f.acked} acked, ${f.refused} refused, ${Math.round(f.rate)} readings/s\n`);
  }
}
