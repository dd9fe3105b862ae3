import { setTimeout as sleep } from 'node:timers/promises';
import { eraseDeadLetters } from '../../gateway/deadletter/index.ts';
import type { Registry } from '../../core/registry/index.ts';
import type { EraseResult, InfluxStore } from '../../core/influx/index.ts';

export interface EraseOptions {
  registry: Registry;
  store: InfluxStore;
  deadletterDir: string;
  /** HTTP address of the running gateway, whose spool may still hold the device's readings. */
  gatewayUrl?: string;
  /** How long to wait for that spool to drain. */
  waitMs?: number;
  onProgress?: (step: string) => void;
}

export interface EraseReport {
  deviceId: string;
  /** The registry entry was removed (false: it was not registered any more). */
  registryRemoved: boolean;
  /** Whether the gateway's spool was seen drained past the removal. */
  spool: 'drained' | 'no gateway answered' | 'timed out';
  influx: EraseResult;
  deadLetters: number;
}

interface SpoolState {
  committedOffset: number;
  endOffset: number;
}

async function spoolState(url: string): Promise<SpoolState | undefined> {
  try {
    const res = await fetch(new URL('/status', url), { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) return undefined;
    return ((await res.json()) as { spool?: SpoolState }).spool;
  } catch {
    return undefined;
  }
}

/**
 * Erases everything stored about one device (a data-protection request), in the order that
 * keeps new data from slipping in behind the erasure: the registry entry goes first (the
 * gateway refuses the device from then on), then the gateway's spool is let drain past what
 * it had already accepted, then its points leave InfluxDB (raw and roll-ups), then its
 * dead-letter entries. Triggers stored in InfluxDB carry `device_id` and go with the points.
 */
export async function eraseDevice(deviceId: string, o: EraseOptions): Promise<EraseReport> {
  const say = o.onProgress ?? (() => {});
  // The id selects what is deleted: "" would select every series without a device_id tag (the
  // gateway's own figures). removeIfPresent() refuses, before anything is changed, an id that
  // breaks the id rule unless the registry holds exactly that entry (registered before the
  // rule was tightened, so its data is there to erase).
  const registryRemoved = (await o.registry.removeIfPresent(deviceId)) !== undefined;
  say(registryRemoved ? `removed ${deviceId} from the registry` : `${deviceId} is not in the registry; erasing its stored data`);
  let spool: EraseReport['spool'] = 'no gateway answered';
  const first = o.gatewayUrl ? await spoolState(o.gatewayUrl) : undefined;
  if (first && o.gatewayUrl) {
    const deadline = Date.now() + (o.waitMs ?? 60_000);
    spool = 'timed out';
    for (let s: SpoolState | undefined = first; s; s = await spoolState(o.gatewayUrl)) {
      if (s.committedOffset >= first.endOffset) {
        spool = 'drained';
        break;
      }
      if (Date.now() > deadline) break;
      say(`waiting for the gateway to write ${first.endOffset - s.committedOffset} spooled bytes`);
      await sleep(250);
    }
  }
  const influx = await o.store.eraseDevice(deviceId);
  say(`dropped ${influx.series} series from InfluxDB`);
  const deadLetters = await eraseDeadLetters(o.deadletterDir, deviceId);
  say(`erased ${deadLetters} dead-letter entries`);
  return { deviceId, registryRemoved, spool, influx, deadLetters };
}
