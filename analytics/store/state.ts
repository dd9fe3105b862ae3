import { join } from 'node:path';
import { open, type Database, type RootDatabase, type RootDatabaseOptionsWithPath } from 'lmdb';
import { PRIVATE_FILE_MODE, privateDirSync, privateFileSync } from '../../core/private-fs.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { Feedback, Trigger, TriggerStatus } from '../../protocol/trigger.ts';

/** Where a delivery of one trigger to one sink stands. */
export interface DeliveryState {
  /** `dropped`: not delivered because its grounds were gone at the attempt (lastError says which). */
  state: 'pending' | 'delivered' | 'dead' | 'dropped';
  attempts: number;
  lastError?: string;
  at?: string;
}

/** A trigger as stored: the trigger, what consumers said of it, and its deliveries. */
export interface TriggerRecord {
  trigger: Trigger;
  status: TriggerStatus;
  feedback: Feedback[];
  delivery: Record<string, DeliveryState>;
}

/** One delivery to make: a trigger (or one feedback of it) to one sink. */
export interface OutboxEntry {
  key: string;
  sink: string;
  triggerId: string;
  /** Index into the trigger's feedback when the delivery is of a feedback. */
  feedbackIndex?: number;
  attempts: number;
  createdAt: number;
  firstAttemptAt?: number;
  dueAt: number;
  lastError?: string;
  /** When a process last took it for an attempt (the attempt may still be under way). */
  claimedAt?: number;
}

export interface DeadLetter extends OutboxEntry {
  deadAt: number;
  reason: string;
}

export interface ListFilter {
  category?: string;
  ruleId?: string;
  model?: string;
  kind?: string;
  deviceId?: string;
  owner?: string;
  status?: string;
  /** The cursor of the next page (`next` of the previous one): triggers listed after it. */
  before?: ListCursor;
  since?: number;
  limit: number;
}

/** What an erasure removed from the analytics state. */
export interface StateErasure {
  triggers: number;
  feedback: number;
  outbox: number;
  deadLetters: number;
  holds: number;
  /** Deliveries that a process had taken for an attempt when they were cancelled. */
  inFlight: number;
  /** The latest time such an attempt was started (ms), to wait for it to end. */
  lastClaimedAt?: number;
}

/**
 * A protective hold: a fault detected on a device (a service rule fired) that holds back upsell
 * and retention there, whether or not it became a service trigger (without service consent it
 * is neither delivered nor shown: it only protects). Also what the policy held back and why,
 * for the owner report: the latest per device and rule.
 */
export interface HoldRecord {
  kind: 'fault' | 'held-back';
  deviceId: string;
  owner: string;
  ruleId: string;
  category: string;
  /** held-back: the policy's reason (cooldown, declined, service-open, frequency-cap, replaced). */
  reason?: string;
  /** Plain words: why. */
  detail: string;
  /** The detection's summary (what was seen). */
  summary: string;
  window: { from: string; to: string };
  at: string;
}

/** A position in the newest-first list: a trigger's creation time and id (one run gives many the same time). */
export interface ListCursor {
  time: number;
  id: string;
}

const MAX_TIME = Number.MAX_SAFE_INTEGER;
const HI = '\uffff';

/**
 * The durable analytics state in one LMDB environment (ACID, crash-safe, readable and writable
 * by several processes at once: the daemon and `analytics run` may share it). Named databases:
 * triggers by id, with secondary indexes by time, by device and rule, and by owner; the
 * delivery outbox with its due-time index; and the delivery dead-letters.
 */
export class StateStore {
  private env?: RootDatabase;
  private triggers!: Database<TriggerRecord, string>;
  private byTime!: Database<null, [number, string]>;
  private byDeviceRule!: Database<null, [string, string, number, string]>;
  private byOwner!: Database<string, [string, number, string]>;
  private outbox!: Database<OutboxEntry, string>;
  private due!: Database<null, [number, string]>;
  private dead!: Database<DeadLetter, string>;
  /** [deviceId, kind, ruleId] → the latest hold of that device and rule. */
  private holds!: Database<HoldRecord, [string, string, string]>;

  constructor(readonly dir: string) {}

  open(): void {
    if (this.env) return;
    try {
      // Triggers name owners and what was inferred about them: 0600 files in a 0700 folder.
      // permissionsMode is the mode LMDB creates data.mdb and lock.mdb with (lmdb-js passes it
      // to mdb_env_open; it is not in its types); files of an older version are narrowed.
      privateDirSync(this.dir);
      this.env = open({ path: this.dir, maxDbs: 16, permissionsMode: PRIVATE_FILE_MODE } as RootDatabaseOptionsWithPath);
      for (const name of ['data.mdb', 'lock.mdb']) privateFileSync(join(this.dir, name));
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_STATE', `cannot open the analytics state in ${this.dir}: ${(err as Error).message}`);
    }
    const env = this.env;
    this.triggers = env.openDB({ name: 'triggers' });
    this.byTime = env.openDB({ name: 'by-time' });
    this.byDeviceRule = env.openDB({ name: 'by-device-rule' });
    this.byOwner = env.openDB({ name: 'by-owner' });
    this.outbox = env.openDB({ name: 'outbox' });
    this.due = env.openDB({ name: 'outbox-due' });
    this.dead = env.openDB({ name: 'dead' });
    this.holds = env.openDB({ name: 'holds' });
  }

  async close(): Promise<void> {
    const env = this.env;
    this.env = undefined;
    await env?.close();
  }

  get(id: string): TriggerRecord | undefined {
    return this.triggers.get(id);
  }

  /**
   * Stores a new trigger with its outbox entries, atomically; false (and nothing written) when
   * a trigger with that id exists already: a job run twice over one window adds nothing.
   */
  async insert(trigger: Trigger, sinks: string[], nowMs = Date.now()): Promise<boolean> {
    const t = Date.parse(trigger.createdAt);
    return this.env!.transaction(() => {
      if (this.triggers.get(trigger.id)) return false;
      const delivery = Object.fromEntries(sinks.map((s) => [s, { state: 'pending', attempts: 0 } satisfies DeliveryState]));
      this.triggers.put(trigger.id, { trigger, status: 'open', feedback: [], delivery });
      this.byTime.put([t, trigger.id], null);
      this.byDeviceRule.put([trigger.deviceId, trigger.ruleId, t, trigger.id], null);
      this.byOwner.put([trigger.owner, t, trigger.id], trigger.purpose);
      for (const sink of sinks) this.enqueue({ key: `${trigger.id}|${sink}`, sink, triggerId: trigger.id, attempts: 0, createdAt: nowMs, dueAt: nowMs });
      return true;
    });
  }

  /** Records a feedback (the trigger's status becomes its outcome) and queues its deliveries. */
  async addFeedback(id: string, fb: Feedback, sinks: string[], nowMs = Date.now()): Promise<TriggerRecord | undefined> {
    return this.env!.transaction(() => {
      const rec = this.triggers.get(id);
      if (!rec) return undefined;
      const next: TriggerRecord = { ...rec, status: fb.outcome, feedback: [...rec.feedback, fb] };
      this.triggers.put(id, next);
      const index = next.feedback.length - 1;
      for (const sink of sinks) this.enqueue({ key: `${id}|${sink}|fb${index}`, sink, triggerId: id, feedbackIndex: index, attempts: 0, createdAt: nowMs, dueAt: nowMs });
      return next;
    });
  }

  private enqueue(e: OutboxEntry): void {
    this.outbox.put(e.key, e);
    this.due.put([e.dueAt, e.key], null);
  }

  /** Newest first, filtered; scans at most `scanLimit` entries of the time index. */
  list(f: ListFilter, scanLimit = 200_000): { items: TriggerRecord[]; next?: ListCursor } {
    const items: TriggerRecord[] = [];
    let scanned = 0;
    let last: ListCursor | undefined;
    const start: [number, string] = f.before ? [f.before.time, f.before.id] : [MAX_TIME, HI];
    const end: [number, string] = [f.since ?? 0, ''];
    for (const { key } of this.byTime.getRange({ start, end, reverse: true })) {
      if (f.before && key[0] === f.before.time && key[1] === f.before.id) continue; // listed on the previous page
      if (++scanned > scanLimit) break;
      const rec = this.triggers.get(key[1]);
      if (!rec) continue;
      const t = rec.trigger;
      if ((f.category && t.category !== f.category) || (f.ruleId && t.ruleId !== f.ruleId) || (f.model && t.model !== f.model)
        || (f.kind && t.kind !== f.kind) || (f.deviceId && t.deviceId !== f.deviceId) || (f.owner && t.owner !== f.owner)
        || (f.status && rec.status !== f.status)) continue;
      if (items.length === f.limit) return { items, next: last };
      items.push(rec);
      last = { time: key[0], id: key[1] };
    }
    return { items };
  }

  /** Triggers of one device and rule, newest first. */
  *ofDeviceRule(deviceId: string, ruleId: string, sinceMs = 0): Generator<TriggerRecord> {
    for (const { key } of this.byDeviceRule.getRange({ start: [deviceId, ruleId, MAX_TIME, HI], end: [deviceId, ruleId, sinceMs, ''], reverse: true })) {
      const rec = this.triggers.get(key[3]);
      if (rec) yield rec;
    }
  }

  /** Every trigger of one device since a time, newest first. */
  *ofDevice(deviceId: string, sinceMs = 0): Generator<TriggerRecord> {
    for (const { key } of this.byDeviceRule.getRange({ start: [deviceId, HI], end: [deviceId, ''], reverse: true })) {
      if (key[2] < sinceMs) continue;
      const rec = this.triggers.get(key[3]);
      if (rec) yield rec;
    }
  }

  /** Count of triggers of one owner and purpose since a time. */
  countOfOwner(owner: string, purpose: string, sinceMs: number): number {
    let n = 0;
    for (const { value } of this.byOwner.getRange({ start: [owner, sinceMs, ''], end: [owner, MAX_TIME, HI] })) if (value === purpose) n++;
    return n;
  }

  /**
   * Takes up to `limit` due deliveries for this process: each is pushed `leaseMs` into the
   * future in the same transaction, so another process polling the same outbox skips it.
   */
  async claimDue(nowMs: number, limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    return this.env!.transaction(() => {
      const out: OutboxEntry[] = [];
      for (const { key } of this.due.getRange({ start: [0, ''], end: [nowMs, HI], limit })) {
        const e = this.outbox.get(key[1]);
        this.due.remove(key);
        if (!e || e.dueAt !== key[0]) continue;
        const claimed = { ...e, dueAt: nowMs + leaseMs, claimedAt: nowMs };
        this.enqueue(claimed);
        out.push(claimed);
      }
      return out;
    });
  }

  /** The outcome of an attempt; nothing when the delivery was cancelled meanwhile (an erasure). */
  async delivered(e: OutboxEntry, nowMs: number): Promise<void> {
    await this.env!.transaction(() => {
      if (!this.outbox.get(e.key)) return;
      this.due.remove([e.dueAt, e.key]);
      this.outbox.remove(e.key);
      if (e.feedbackIndex === undefined) this.setDelivery(e.triggerId, e.sink, { state: 'delivered', attempts: e.attempts + 1, at: new Date(nowMs).toISOString() });
    });
  }

  async retry(e: OutboxEntry, dueAt: number, error: string, nowMs: number): Promise<void> {
    await this.env!.transaction(() => {
      if (!this.outbox.get(e.key)) return;
      this.due.remove([e.dueAt, e.key]);
      const { claimedAt: _done, ...rest } = e;
      this.enqueue({ ...rest, attempts: e.attempts + 1, firstAttemptAt: e.firstAttemptAt ?? nowMs, dueAt, lastError: error });
      if (e.feedbackIndex === undefined) this.setDelivery(e.triggerId, e.sink, { state: 'pending', attempts: e.attempts + 1, lastError: error });
    });
  }

  async deadLetter(e: OutboxEntry, reason: string, nowMs: number): Promise<void> {
    await this.env!.transaction(() => {
      if (!this.outbox.get(e.key)) return;
      this.due.remove([e.dueAt, e.key]);
      this.outbox.remove(e.key);
      this.dead.put(e.key, { ...e, attempts: e.attempts + 1, deadAt: nowMs, reason });
      if (e.feedbackIndex === undefined) this.setDelivery(e.triggerId, e.sink, { state: 'dead', attempts: e.attempts + 1, lastError: reason, at: new Date(nowMs).toISOString() });
    });
  }

  /**
   * A delivery not made because its grounds were gone at the attempt (consent withdrawn, device
   * removed, owner changed): out of the outbox, with the reason on the trigger's delivery state.
   */
  async dropped(e: OutboxEntry, reason: string, nowMs: number): Promise<void> {
    await this.env!.transaction(() => {
      if (!this.outbox.get(e.key)) return;
      this.due.remove([e.dueAt, e.key]);
      this.outbox.remove(e.key);
      if (e.feedbackIndex === undefined) this.setDelivery(e.triggerId, e.sink, { state: 'dropped', attempts: e.attempts, lastError: reason, at: new Date(nowMs).toISOString() });
    });
  }

  private setDelivery(id: string, sink: string, d: DeliveryState): void {
    const rec = this.triggers.get(id);
    if (rec) this.triggers.put(id, { ...rec, delivery: { ...rec.delivery, [sink]: d } });
  }

  // ── protective holds and what the policy held back ─────────────────────────────────

  async putHold(h: HoldRecord): Promise<void> {
    await this.holds.put([h.deviceId, h.kind, h.ruleId], h);
  }

  /** Holds of one device (faults and held-back candidates). */
  holdsOfDevice(deviceId: string): HoldRecord[] {
    return [...this.holds.getRange({ start: [deviceId, '', ''], end: [deviceId, HI, HI] })].map((e) => e.value);
  }

  /** Holds of one owner, on any device (a full scan: holds are few, one per device and rule). */
  holdsOfOwner(owner: string): HoldRecord[] {
    return [...this.holds.getRange({})].map((e) => e.value).filter((h) => h.owner === owner);
  }

  /** Triggers of one owner (on any device, also one sold since), newest first. */
  *ofOwner(owner: string): Generator<TriggerRecord> {
    for (const { key } of this.byOwner.getRange({ start: [owner, MAX_TIME, HI], end: [owner, 0, ''], reverse: true })) {
      const rec = this.triggers.get(key[2]);
      if (rec) yield rec;
    }
  }

  /** Outbox entries (pending deliveries) of one trigger. */
  outboxOf(triggerId: string): OutboxEntry[] {
    return [...this.outbox.getRange({ start: `${triggerId}|`, end: `${triggerId}|${HI}` })].map((e) => e.value);
  }

  // ── erasure ──────────────────────────────────────────────────────────────────────────

  /**
   * Deletes everything of one device: its triggers with their feedback and indexes, its pending
   * deliveries (cancelled: an attempt under way finds them gone and records nothing), its
   * delivery dead-letters and its holds. One transaction. (Model cohorts are not stored: they
   * are computed in memory at each run.)
   */
  async eraseDevice(deviceId: string, nowMs = Date.now()): Promise<StateErasure> {
    return this.env!.transaction(() => {
      const ids = [...this.byDeviceRule.getRange({ start: [deviceId, '', 0, ''], end: [deviceId, HI, MAX_TIME, HI] })].map((e) => e.key[3]);
      const out = this.eraseTriggers(ids, nowMs);
      for (const { key } of this.holds.getRange({ start: [deviceId, '', ''], end: [deviceId, HI, HI] })) {
        this.holds.remove(key);
        out.holds++;
      }
      return out;
    });
  }

  /** Deletes everything of one owner: their triggers on any device, and their holds. */
  async eraseOwner(owner: string, nowMs = Date.now()): Promise<StateErasure> {
    return this.env!.transaction(() => {
      const ids = [...this.byOwner.getRange({ start: [owner, 0, ''], end: [owner, MAX_TIME, HI] })].map((e) => e.key[2]);
      const out = this.eraseTriggers(ids, nowMs);
      for (const { key, value } of this.holds.getRange({})) {
        if (value.owner !== owner) continue;
        this.holds.remove(key);
        out.holds++;
      }
      return out;
    });
  }

  private eraseTriggers(ids: string[], nowMs: number): StateErasure {
    const out: StateErasure = { triggers: 0, feedback: 0, outbox: 0, deadLetters: 0, holds: 0, inFlight: 0 };
    for (const id of ids) {
      const rec = this.triggers.get(id);
      if (rec) {
        const t = Date.parse(rec.trigger.createdAt);
        this.byTime.remove([t, id]);
        this.byDeviceRule.remove([rec.trigger.deviceId, rec.trigger.ruleId, t, id]);
        this.byOwner.remove([rec.trigger.owner, t, id]);
        this.triggers.remove(id);
        out.triggers++;
        out.feedback += rec.feedback.length;
      }
      for (const { key, value } of this.outbox.getRange({ start: `${id}|`, end: `${id}|${HI}` })) {
        this.due.remove([value.dueAt, key]);
        this.outbox.remove(key);
        out.outbox++;
        if (value.claimedAt !== undefined && value.dueAt > nowMs) {
          out.inFlight++;
          out.lastClaimedAt = Math.max(out.lastClaimedAt ?? 0, value.claimedAt);
        }
      }
      for (const { key } of this.dead.getRange({ start: `${id}|`, end: `${id}|${HI}` })) {
        this.dead.remove(key);
        out.deadLetters++;
      }
    }
    return out;
  }

  outboxDepth(): number {
    return this.outbox.getCount();
  }

  deadLetters(): DeadLetter[] {
    return [...this.dead.getRange({})].map((e) => e.value);
  }

  count(): number {
    return this.triggers.getCount();
  }
}
