export interface IngestQueueOptions {
  /** Messages decoded and handed to the spool at once. */
  maxInFlight: number;
  /** Messages waiting for a slot at which connections stop being read; they are read again at half. */
  pauseAt: number;
  /**
   * Messages handed to the spool and not yet on disk (see `hold`) at which connections stop
   * being read; they are read again at half. Unbounded when absent.
   */
  pauseAtSpooling?: number;
  /** Messages waiting at which a QoS 0 message is refused rather than queued. */
  refuseAt: number;
  /** Called each time reading stops. */
  onPause?: () => void;
}

export interface IngestQueueStats {
  inFlight: number;
  waiting: number;
  /** Handed to the spool, not yet on disk. */
  spooling: number;
  /** True while connections are not read (TCP backpressure). */
  paused: boolean;
  /** Times reading stopped, since the start. */
  pauses: number;
  /** Most messages ever waiting at once. */
  peakWaiting: number;
  /** Most messages ever handed to the spool and not yet on disk at once. */
  peakSpooling: number;
}

/**
 * The ingest queue: at most `maxInFlight` messages are decoded and handed to the spool at once,
 * the others wait in arrival order as the raw packets they came in. From `pauseAt` waiting
 * messages the broker stops reading from connections (each connection that delivers more data
 * is paused, so the kernel's buffers fill and TCP holds the devices back) until the queue is
 * down to half; what was already read still waits its turn.
 *
 * A message handed to the spool gives its slot up at once and is `hold`-ed until it is on disk
 * (for QoS 1, fsynced: its PUBACK waits for that). Were the slot kept until then, the messages
 * taken per second could be no more than `maxInFlight` per commit time, and a commit slowed by
 * a busy event loop would hold the gateway below what its CPU can do, with devices waiting in
 * their sockets for seconds while it idles. The messages spooling are bounded apart: from
 * `pauseAtSpooling` reading stops as well, until half of them are on disk. Memory under a
 * burst is therefore bounded by the two, not by what devices send.
 */
export class IngestQueue {
  private readonly options: IngestQueueOptions;
  private inFlight = 0;
  private waiting: Array<() => void> = [];
  private head = 0;
  private parked: Array<() => void> = [];
  private parkedHead = 0;
  private releasing = false;
  /** Counts reopenings: a release step of an earlier one does nothing. */
  private generation = 0;
  private paused = false;
  private pauses = 0;
  private peakWaiting = 0;
  private spooling = 0;
  private peakSpooling = 0;

  constructor(options: IngestQueueOptions) {
    this.options = options;
  }

  get waitingCount(): number {
    return this.waiting.length - this.head;
  }

  /** True while connections should not be read: the queue is full, or parked connections are still being let in (they go first). */
  get closed(): boolean {
    return this.paused || this.releasing;
  }

  /** True when a QoS 0 message should be refused rather than queued. */
  get overflowing(): boolean {
    return this.waitingCount >= this.options.refuseAt;
  }

  stats(): IngestQueueStats {
    return {
      inFlight: this.inFlight, waiting: this.waitingCount, spooling: this.spooling, paused: this.paused, pauses: this.pauses,
      peakWaiting: this.peakWaiting, peakSpooling: this.peakSpooling,
    };
  }

  /** Calls `resume` once the queue reopens (at once when it is open). */
  whenOpen(resume: () => void): void {
    if (this.paused || this.releasing) this.parked.push(resume);
    else resume();
  }

  /** Runs `task` when a slot is free, in arrival order. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.options.maxInFlight && this.waitingCount === 0) {
      this.inFlight++;
    } else {
      // The slot is handed over by the task that ends (inFlight stays counted for us).
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        const n = this.waitingCount;
        if (n > this.peakWaiting) this.peakWaiting = n;
        if (n >= this.options.pauseAt) this.pause();
      });
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  /**
   * Counts a message handed to the spool until `stored` settles (on disk, or failed); resolves
   * and rejects as it does.
   */
  hold(stored: Promise<void>): Promise<void> {
    this.spooling++;
    if (this.spooling > this.peakSpooling) this.peakSpooling = this.spooling;
    if (this.options.pauseAtSpooling !== undefined && this.spooling >= this.options.pauseAtSpooling) this.pause();
    return stored.finally(() => {
      this.spooling--;
      this.resumeIfDown();
    });
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.pauses++;
    this.options.onPause?.();
  }

  /** Reads again once both the waiting and the spooling messages are down to half their pause marks. */
  private resumeIfDown(): void {
    if (!this.paused || this.waitingCount > this.options.pauseAt / 2) return;
    if (this.options.pauseAtSpooling !== undefined && this.spooling > this.options.pauseAtSpooling / 2) return;
    this.paused = false;
    this.releaseParked();
  }

  private release(): void {
    if (this.waitingCount === 0) {
      this.inFlight--;
    } else {
      const next = this.waiting[this.head];
      this.waiting[this.head++] = undefined as never;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      next();
    }
    this.resumeIfDown();
  }

  /**
   * Lets the parked connections read again in the order they were parked, each in a callback of
   * its own (one setImmediate each): the broker parses what one hands on in the ticks between
   * callbacks, so the queue sees it before the next is let in and closes again as soon as it is
   * full. Letting them all in from one callback would queue a slice from every connection before
   * any is counted (a thousand connections, fifteen thousand messages). Those still parked when
   * it closes keep their place; newcomers wait behind them.
   */
  private releaseParked(): void {
    const generation = ++this.generation;
    let left = this.parked.length - this.parkedHead;
    if (left === 0) return;
    this.releasing = true;
    const step = () => {
      if (generation !== this.generation) return;
      if (this.paused) {
        // full again: the rest wait for the next reopening
        this.generation++;
        this.releasing = false;
        return;
      }
      const resume = this.parked[this.parkedHead];
      this.parked[this.parkedHead++] = undefined as never;
      // open for this one connection while it hands on its data
      this.releasing = false;
      resume();
      if (--left > 0) {
        this.releasing = true;
        return;
      }
      if (this.parkedHead === this.parked.length) {
        this.parked = [];
        this.parkedHead = 0;
      } else {
        this.releaseParked(); // newcomers parked meanwhile
      }
    };
    for (let i = 0; i < left; i++) setImmediate(step);
  }
}
