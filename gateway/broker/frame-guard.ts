import { Duplex } from 'node:stream';

export interface FrameLimits {
  /** Largest packet (remaining length) let through. */
  maxPacketBytes: number;
  /** Most topic filters one SUBSCRIBE may carry. */
  maxFiltersPerSubscribe: number;
  /** A packet announced more than maxPacketBytes; the connection is being closed. */
  onTooLarge(announced: number): void;
  /** A SUBSCRIBE of `packetBytes` carried more than maxFiltersPerSubscribe filters; the connection is being closed. */
  onTooManyFilters(packetBytes: number): void;
  /**
   * The ingest queue's TCP backpressure. With a gate, bytes are handed on at most SLICE_BYTES
   * per read of the broker, none while the gate is `closed` (until `whenOpen` calls back), and
   * the connection is not read while bytes it delivered are held: what a connection has read
   * ahead is one socket read of raw bytes, not hundreds of parsed messages.
   */
  gate?: { readonly closed: boolean; whenOpen(resume: () => void): void };
}

/** Bytes handed to the broker per read when a gate is set: about 15 one-reading PUBLISH packets. */
const SLICE_BYTES = 4 * 1024;

/** Where the scanner is inside a SUBSCRIBE's body [MQTT-3.8.2, 3.8.3]. */
interface SubscribeScan {
  phase: 'id' | 'len' | 'topic' | 'qos';
  /** Bytes left in the current field. */
  left: number;
  topicLen: number;
  filters: number;
}

/**
 * Wraps a connection so that packets a broker should not even buffer close the connection
 * before they reach the MQTT parser, which would otherwise collect the whole packet in memory
 * and hand it to Aedes: a packet announcing more than `maxPacketBytes` (closed as soon as its
 * fixed header is read), and a SUBSCRIBE with more than `maxFiltersPerSubscribe` filters
 * (closed as soon as the filter over the limit is read). Bytes pass through untouched; only
 * fixed headers and SUBSCRIBE bodies are looked at, nothing is held back.
 */
export class FrameGuard extends Duplex {
  readonly remoteAddress?: string;
  private readonly inner: Duplex;
  private readonly limits: FrameLimits;
  // scanner state: bytes of the current packet body still to pass, or reading a header
  private skip = 0;
  private stage: 'type' | 'length' = 'type';
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private subscribe?: SubscribeScan;
  private refused = false;
  // with a gate: bytes read and not yet handed on, whether the broker asked for more, the end
  private held: Buffer[] = [];
  private heldBytes = 0;
  private wanted = false;
  private ended = false;
  private parked = false;
  private pumping = false;

  constructor(inner: Duplex, limits: FrameLimits, remoteAddress?: string) {
    super({ allowHalfOpen: false });
    this.inner = inner;
    this.limits = limits;
    this.remoteAddress = remoteAddress;
    if (!this.limits.gate) {
      inner.on('data', (chunk: Buffer) => {
        if (this.scan(chunk) && !this.push(chunk)) inner.pause();
      });
    } else {
      // Paused mode: everything the connection has buffered is taken at once, and only when all
      // held before is handed on. (Pausing in 'data' would leave the chunks read meanwhile in
      // the socket's buffer, and they would come out one per resume: a device sending a message
      // every 100 ms would get one message in per turn, however long its backlog.)
      inner.on('readable', () => this.takeInner());
    }
    inner.on('end', () => {
      this.ended = true;
      if (!this.limits.gate) this.push(null);
      else this.pump();
    });
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  /** False when the chunk holds what closes the connection (it is then not passed on). */
  private scan(chunk: Buffer): boolean {
    if (this.refused) return false;
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        if (this.subscribe) {
          i = this.scanSubscribe(chunk, i);
          if (i < 0) return this.refuse();
          continue;
        }
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      if (this.stage === 'type') {
        this.type = chunk[i] >> 4;
        this.stage = 'length';
        this.length = 0;
        this.multiplier = 1;
        i++;
        continue;
      }
      const b = chunk[i++];
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (b & 0x80 && this.multiplier <= 128 ** 3) continue;
      // [MQTT-2.2.3] the remaining length is complete
      this.stage = 'type';
      if (this.length > this.limits.maxPacketBytes) {
        this.limits.onTooLarge(this.length);
        return this.refuse();
      }
      this.skip = this.length;
      // SUBSCRIBE (type 8): a packet identifier, then filters of a length, a string and a QoS byte
      this.subscribe = this.type === 8 && this.length > 0 ? { phase: 'id', left: 2, topicLen: 0, filters: 0 } : undefined;
    }
    return true;
  }

  /** Reads SUBSCRIBE body bytes from `i`; the next index, or -1 at a filter over the limit. */
  private scanSubscribe(chunk: Buffer, i: number): number {
    const s = this.subscribe!;
    const start = i;
    const end = i + Math.min(this.skip, chunk.length - i);
    while (i < end) {
      if (s.phase === 'topic') {
        const n = Math.min(s.left, end - i);
        i += n;
        s.left -= n;
        if (s.left === 0) s.phase = 'qos';
        continue;
      }
      const b = chunk[i++];
      if (s.phase === 'id') {
        if (--s.left === 0) Object.assign(s, { phase: 'len', left: 2, topicLen: 0 });
      } else if (s.phase === 'len') {
        s.topicLen = (s.topicLen << 8) | b;
        if (--s.left === 0) Object.assign(s, { phase: s.topicLen > 0 ? 'topic' : 'qos', left: s.topicLen });
      } else {
        if (++s.filters > this.limits.maxFiltersPerSubscribe) {
          this.limits.onTooManyFilters(this.length);
          return -1;
        }
        Object.assign(s, { phase: 'len', left: 2, topicLen: 0 });
      }
    }
    this.skip -= i - start;
    if (this.skip === 0) this.subscribe = undefined;
    return i;
  }

  private refuse(): false {
    this.refused = true;
    this.inner.destroy();
    return false;
  }

  /** Moves what the connection has buffered into `held`, unless bytes are still held. */
  private takeInner(): void {
    if (this.heldBytes > 0 || this.refused || this.destroyed) return;
    const chunk = this.inner.read() as Buffer | null;
    if (chunk === null || !this.scan(chunk)) return;
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    this.pump();
  }

  override _read(): void {
    if (!this.limits.gate) {
      this.inner.resume();
      return;
    }
    this.wanted = true;
    this.pump();
  }

  /** Hands on one slice of the held bytes if the broker asked and the gate is open; reads on when all is handed on. */
  private pump(): void {
    if (this.pumping || this.destroyed) return;
    this.pumping = true;
    let takeMore = false;
    try {
      const gate = this.limits.gate!;
      if (this.wanted && this.heldBytes > 0) {
        if (gate.closed) {
          if (!this.parked) {
            this.parked = true;
            gate.whenOpen(() => {
              this.parked = false;
              this.pump();
            });
          }
          return;
        }
        this.wanted = false;
        this.push(this.takeHeld(SLICE_BYTES));
      }
      if (this.heldBytes > 0) return;
      if (this.ended) this.push(null);
      else takeMore = this.wanted;
    } finally {
      this.pumping = false;
    }
    if (takeMore) this.takeInner();
  }

  /** Up to `max` of the held bytes, in order. */
  private takeHeld(max: number): Buffer {
    const first = this.held[0];
    let out: Buffer;
    if (first.length <= max) {
      out = first;
      this.held.shift();
    } else {
      out = first.subarray(0, max);
      this.held[0] = first.subarray(max);
    }
    this.heldBytes -= out.length;
    return out;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.inner.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.inner.write(chunks[i].chunk);
    this.inner.write(chunks[chunks.length - 1].chunk, cb);
    this.inner.uncork();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
