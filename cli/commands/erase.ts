import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig } from '../../config/load.ts';
import type { Registry } from '../../gateway/registry/index.ts';
import { eraseDevice as eraseGatewayDevice, InfluxStore, type EraseReport } from '../../gateway/storage/index.ts';
import { StateStore, type StateErasure } from '../../analytics/store/state.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';

/**
 * The erasure of a device or of an owner across every part, the one place that knows them all:
 * the registry (entry and consent history), the gateway's spool, InfluxDB (raw points, roll-ups,
 * trigger and feedback points), the dead-letter store and the analytics state (triggers, feedback,
 * pending deliveries, delivery dead-letters, holds). No record of the erased ids is kept; the
 * report printed is the operator's record.
 *
 * Order, so that nothing slips in behind the erasure: the registry entry goes first (the gateway
 * refuses the device; analytics drops any delivery of it at its next attempt and fires nothing
 * new), then the gateway's data, then the analytics state, where pending deliveries are
 * cancelled. A delivery already under way in the analytics service when it was cancelled may
 * still write its trigger point: the erasure waits for such an attempt to end (at most the
 * longest delivery timeout) and drops the device from InfluxDB once more.
 */

export interface EraseWorkflowOptions {
  config: Readonly<ResolvedConfig>;
  registry: Registry;
  /** HTTP address of the running gateway, whose spool is let drain first. */
  gatewayUrl?: string;
  waitMs?: number;
  onProgress?: (step: string) => void;
}

export interface DeviceErasure {
  deviceId: string;
  owner?: string;
  registryRemoved: boolean;
  spool: EraseReport['spool'];
  influx: { series: number; points: Record<string, number>; seriesAfterDeliveries: number };
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

export async function eraseDeviceEverywhere(deviceId: string, o: EraseWorkflowOptions): Promise<DeviceErasure> {
  const say = o.onProgress ?? (() => {});
  const owner = o.registry.device(deviceId)?.owner;
  const store = new InfluxStore(o.config.influx);
  // The analytics state is erased even when a gateway store could not be (InfluxDB 3.x cannot
  // delete one device's rows): then the command fails afterwards, naming what is left.
  let gw: EraseReport | undefined;
  let failed: unknown;
  try {
    gw = await eraseGatewayDevice(deviceId, {
      registry: o.registry, store, deadletterDir: o.config.deadletter.dir, gatewayUrl: o.gatewayUrl, waitMs: o.waitMs, onProgress: say,
    });
  } catch (err) {
    failed = err;
  }
  const analytics = await withState(o.config, (s) => s.eraseDevice(deviceId));
  if (analytics === 'no analytics state') say('no analytics state to erase');
  else say(`erased from the analytics state: ${analytics.triggers} triggers, ${analytics.feedback} feedback, ${analytics.outbox} pending deliveries, ${analytics.deadLetters} delivery dead-letters, ${analytics.holds} holds`);
  if (!gw) throw failed;
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
    deviceId, ...(owner ? { owner } : {}), registryRemoved: gw.registryRemoved, spool: gw.spool,
    influx: { series: gw.influx.series, points: gw.influx.points, seriesAfterDeliveries: again.series },
    deadLetters: gw.deadLetters, analytics,
  };
}

/**
 * Erases an owner: every device registered to them (as eraseDeviceEverywhere), then what is left
 * of them elsewhere: their triggers and holds on devices sold on since, and their consent
 * changes in those devices' histories.
 */
export async function eraseOwnerEverywhere(owner: string, o: EraseWorkflowOptions): Promise<OwnerErasure> {
  const say = o.onProgress ?? (() => {});
  const ids = o.registry.devices().filter((d) => d.owner === owner).map((d) => d.id);
  const known = await withState(o.config, async (s) => [...s.ofOwner(owner)].length + s.holdsOfOwner(owner).length);
  const history = o.registry.devices().some((d) => d.consentHistory?.some((c) => c.owner === owner));
  if (ids.length === 0 && !history && (known === 'no analytics state' || known === 0)) {
    throw new UsageGatewayError('GW_ERR_NOT_FOUND', `nothing is stored about owner "${owner}": no device, consent change or trigger`);
  }
  const devices: DeviceErasure[] = [];
  for (const id of ids) {
    say(`erasing device ${id}`);
    devices.push(await eraseDeviceEverywhere(id, o));
  }
  // Trigger and feedback points of the owner on devices sold on: by their times, so that the
  // new owner's points stay. (A run gives one device's triggers one time; feedback has its own.)
  const store = new InfluxStore(o.config.influx);
  const soldOn = await withState(o.config, async (s) => [...s.ofOwner(owner)].map((r) => r));
  let points = 0;
  for (const rec of soldOn === 'no analytics state' ? [] : soldOn) {
    const t = Date.parse(rec.trigger.createdAt);
    await store.eraseDeviceRange(rec.trigger.deviceId, 'trigger', t, t + 1);
    for (const fb of rec.feedback) await store.eraseDeviceRange(rec.trigger.deviceId, 'trigger_feedback', Date.parse(fb.at), Date.parse(fb.at) + 1);
    points++;
  }
  if (points > 0) say(`deleted the trigger points of ${points} of the owner's triggers on devices sold on`);
  const analytics = await withState(o.config, (s) => s.eraseOwner(owner));
  if (analytics !== 'no analytics state') say(`erased the owner's remaining analytics records: ${analytics.triggers} triggers, ${analytics.holds} holds`);
  const consentChanges = await o.registry.eraseOwnerHistory(owner);
  if (consentChanges > 0) say(`removed ${consentChanges} consent changes of the owner from devices sold on`);
  return { owner, devices, soldOnTriggerPoints: points, analytics, consentChanges };
}
