import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig } from '../../config/load.ts';
import { createInfluxStore, type EraseResult, type InfluxStore } from '../../core/influx/index.ts';
import type { Registry } from '../../core/registry/index.ts';
import { StateStore, type StateErasure } from '../../analytics/store/state.ts';
import { eraseDeadLetters } from '../../gateway/deadletter/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { checkOwner, quoted } from '../../protocol/ids.ts';
import { feedbackTimeMs } from '../../protocol/trigger.ts';

/**
 * The erasure of a device or of an owner across every part, the one place that knows them all:
 * the registry (entry and consent history), the gateway's spool, InfluxDB (raw points, roll-ups,
 * trigger and feedback points), the dead-letter store and the analytics state (triggers, feedback,
 * pending deliveries, delivery dead-letters, holds). No record of the erased ids is kept; the
 * report printed is the operator's record.
 *
 * Order, so that nothing slips in behind the erasure: the registry entry goes first (the gateway
 * refuses the device from then on; analytics drops any delivery of it at its next attempt and
 * fires nothing new), then the gateway's spool is let drain past what it had already accepted,
 * then the device's points leave InfluxDB and its dead-letter entries go, then the analytics
 * state, where pending deliveries are cancelled. A delivery already under way in the analytics
 * service when it was cancelled may still write its trigger point: the erasure waits for such an
 * attempt to end (at most the longest delivery timeout) and drops the device from InfluxDB once
 * more.
 */

export interface EraseWorkflowOptions {
  config: Readonly<ResolvedConfig>;
  registry: Registry;
  /** HTTP address of the running gateway, whose spool may still hold the device's readings. */
  gatewayUrl?: string;
  /** How long to wait for that spool to drain. */
  waitMs?: number;
  onProgress?: (step: string) => void;
}

export interface DeviceErasure {
  deviceId: string;
  /** The owner the registry named (absent when the device was not registered any more). */
  owner?: string;
  /** The registry entry was removed (false: it was not registered any more). */
  registryRemoved: boolean;
  /** Whether the gateway's spool was seen drained past the removal. */
  spool: 'drained' | 'no gateway answered' | 'timed out';
  influx: EraseResult & { seriesAfterDeliveries: number };
  deadLetters: number;
  analytics: StateErasure | 'no analytics state';
}

export interface OwnerErasure {
  owner: string;
  devices: DeviceErasure[];
  /** The owner's triggers on devices sold on whose trigger points were deleted from InfluxDB. */
  soldOnTriggerPoints: number;
  /** The owner's triggers and holds on devices that are not theirs any more (sold on). */
  analytics: StateErasure | 'no analytics state';
  /** The owner's consent changes in the history of devices that are not theirs any more. */
  consentChanges: number;
}

interface SpoolState {
  committedOffset: number;
  endOffset: number;
}

interface StatusSpools {
  spool?: SpoolState;
  takeovers?: Array<SpoolState & { dir: string }>;
  workers?: Array<{ worker: number; spool?: SpoolState; takeovers?: Array<SpoolState & { dir: string }> }>;
}

/**
 * Every spool of the gateway, by name: its own (or each worker's, with gateway.workers) and
 * those of workers no longer run that it is writing out; undefined when no gateway (or not
 * every worker) answers.
 */
async function spoolState(url: string): Promise<Map<string, SpoolState> | undefined> {
  try {
    const res = await fetch(new URL('/status', url), { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return undefined;
    const s = (await res.json()) as StatusSpools;
    const out = new Map<string, SpoolState>();
    const parts = s.workers ? s.workers.map((w) => ({ name: `worker ${w.worker}`, ...w })) : [{ name: 'spool', ...s }];
    for (const p of parts) {
      if (!p.spool) return undefined;
      out.set(p.name, p.spool);
      for (const t of p.takeovers ?? []) out.set(t.dir, t);
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Waits until the gateway has written to InfluxDB everything its spools held when asked. */
async function drainSpool(o: EraseWorkflowOptions, say: (step: string) => void): Promise<DeviceErasure['spool']> {
  const first = o.gatewayUrl ? await spoolState(o.gatewayUrl) : undefined;
  if (!first || !o.gatewayUrl) return 'no gateway answered';
  const deadline = Date.now() + (o.waitMs ?? 60_000);
  for (let s: Map<string, SpoolState> | undefined = first; ; s = await spoolState(o.gatewayUrl)) {
    // A poll without an answer (a worker restarting) waits on; a spool taken over that is no
    // longer listed was written out and let go.
    if (s) {
      let left = 0;
      for (const [name, f] of first) left += Math.max(0, f.endOffset - (s.get(name)?.committedOffset ?? f.endOffset));
      if (left === 0) return 'drained';
      say(`waiting for the gateway to write ${left} spooled bytes`);
    } else say('waiting for every part of the gateway to answer');
    if (Date.now() > deadline) return 'timed out';
    await sleep(250);
  }
}

function stateDir(config: Readonly<ResolvedConfig>): string {
  return resolve(config.analytics.stateDir ?? `${config.dataDir}/analytics`);
}

/** The analytics state when there is one (opening would create it), closed after `use`. */
async function withState<T>(config: Readonly<ResolvedConfig>, use: (s: StateStore) => Promise<T>): Promise<T | 'no analytics state'> {
  const dir = stateDir(config);
  if (!existsSync(dir)) return 'no analytics state';
  const state = new StateStore(dir);
  state.open();
  try {
    return await use(state);
  } finally {
    await state.close();
  }
}

/** The longest a delivery attempt takes: the slowest sink's timeout, and a margin. */
function attemptBoundMs(config: Readonly<ResolvedConfig>): number {
  return Math.max(config.analytics.delivery.webhookTimeoutMs, config.influx.requestTimeoutMs) + 1_000;
}

/**
 * Erases everything stored about one device (a data-protection request), in the order above.
 * The id is checked before anything is changed.
 */
export async function eraseDeviceEverywhere(deviceId: string, o: EraseWorkflowOptions, store: InfluxStore = createInfluxStore(o.config.influx)): Promise<DeviceErasure> {
  const say = o.onProgress ?? (() => {});
  // The id selects what is deleted: "" would select every series without a device_id tag (the
  // gateway's own figures). removeIfPresent() refuses, before anything is changed, an id that
  // breaks the id rule unless the registry holds exactly that entry (registered before the
  // rule was tightened, so its data is there to erase).
  const removed = await o.registry.removeIfPresent(deviceId);
  const owner = removed?.role === 'device' ? removed.owner : undefined;
  say(removed ? `removed ${deviceId} from the registry` : `${deviceId} is not in the registry; erasing its stored data`);
  const spool = await drainSpool(o, say);
  // Every store is erased even when one could not be (InfluxDB 3.x cannot delete one device's
  // rows): then the command fails afterwards, naming what is left.
  let influx: EraseResult | undefined;
  let failed: unknown;
  try {
    influx = await store.eraseDevice(deviceId);
    say(`dropped ${influx.series} series from InfluxDB`);
  } catch (err) {
    failed = err;
  }
  const deadLetters = await eraseDeadLetters(o.config.deadletter.dir, deviceId);
  say(`erased ${deadLetters} dead-letter entries`);
  const analytics = await withState(o.config, (s) => s.eraseDevice(deviceId));
  if (analytics === 'no analytics state') say('no analytics state to erase');
  else say(`erased from the analytics state: ${analytics.triggers} triggers, ${analytics.feedback} feedback, ${analytics.outbox} pending deliveries, ${analytics.deadLetters} delivery dead-letters, ${analytics.holds} holds`);
  if (!influx) throw failed;
  if (analytics !== 'no analytics state' && analytics.lastClaimedAt !== undefined) {
    const until = analytics.lastClaimedAt + attemptBoundMs(o.config);
    if (until > Date.now()) {
      say(`waiting for ${analytics.inFlight} delivery attempt(s) under way to end`);
      await sleep(until - Date.now());
    }
  }
  // Whatever a delivery under way wrote goes too; the store checks that nothing is left.
  const again = await store.eraseDevice(deviceId);
  if (again.series > 0) say(`dropped ${again.series} more series written by deliveries under way`);
  return {
    deviceId, ...(owner ? { owner } : {}), registryRemoved: removed !== undefined, spool,
    influx: { ...influx, seriesAfterDeliveries: again.series }, deadLetters, analytics,
  };
}

/**
 * Erases an owner: every device registered to them (as eraseDeviceEverywhere), then what is left
 * of them elsewhere: their triggers and holds on devices sold on since, and their consent
 * changes in those devices' histories. Needs the registry loaded (to find the owner's devices).
 */
export async function eraseOwnerEverywhere(owner: string, o: EraseWorkflowOptions): Promise<OwnerErasure> {
  checkOwner(owner);
  const say = o.onProgress ?? (() => {});
  const ids = o.registry.devices().filter((d) => d.owner === owner).map((d) => d.id);
  const known = await withState(o.config, async (s) => [...s.ofOwner(owner)].length + s.holdsOfOwner(owner).length);
  const history = o.registry.devices().some((d) => d.consentHistory?.some((c) => c.owner === owner));
  if (ids.length === 0 && !history && (known === 'no analytics state' || known === 0)) {
    throw new UsageGatewayError('GW_ERR_NOT_FOUND', `nothing is stored about owner ${quoted(owner)}: no device, consent change or trigger`);
  }
  const store = createInfluxStore(o.config.influx);
  const devices: DeviceErasure[] = [];
  for (const id of ids) {
    say(`erasing device ${id}`);
    devices.push(await eraseDeviceEverywhere(id, o, store));
  }
  // Trigger and feedback points of the owner on devices sold on: by their times, so that the
  // new owner's points stay. (A run gives one device's triggers one time; feedback has its own,
  // the time its point was written at.)
  const soldOn = await withState(o.config, async (s) => [...s.ofOwner(owner)]);
  let points = 0;
  for (const rec of soldOn === 'no analytics state' ? [] : soldOn) {
    const t = Date.parse(rec.trigger.createdAt);
    await store.eraseDeviceRange(rec.trigger.deviceId, 'trigger', t, t + 1);
    for (const fb of rec.feedback) {
      const at = feedbackTimeMs(fb);
      await store.eraseDeviceRange(rec.trigger.deviceId, 'trigger_feedback', at, at + 1);
    }
    points++;
  }
  if (points > 0) say(`deleted the trigger points of ${points} of the owner's triggers on devices sold on`);
  const analytics = await withState(o.config, (s) => s.eraseOwner(owner));
  if (analytics !== 'no analytics state') say(`erased the owner's remaining analytics records: ${analytics.triggers} triggers, ${analytics.holds} holds`);
  const consentChanges = await o.registry.eraseOwnerHistory(owner);
  if (consentChanges > 0) say(`removed ${consentChanges} consent changes of the owner from devices sold on`);
  return { owner, devices, soldOnTriggerPoints: points, analytics, consentChanges };
}
