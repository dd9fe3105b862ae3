import { fnv1a } from '../../core/hash.ts';
import type { Registry } from '../../core/registry/index.ts';
import type { DeviceInfo } from '../detectors/index.ts';
import type { DeviceDirectory } from './evaluate.ts';

/**
 * The devices of a list (a manifest, a test fleet), paged by owner: an owner's devices are
 * always in the same page, so that rules can look at a household as a whole (an absence shows
 * on all of its devices at once), and a fleet can later be partitioned by owner the same way.
 */
export class ListDirectory implements DeviceDirectory {
  private readonly households: DeviceInfo[][];

  constructor(devices: readonly DeviceInfo[]) {
    const byOwner = new Map<string, DeviceInfo[]>();
    for (const d of devices) {
      const list = byOwner.get(d.owner) ?? [];
      byOwner.set(d.owner, list);
      list.push(d);
    }
    this.households = [...byOwner.values()];
  }

  /**
   * Partition `index` of `count` of the fleet, by owner: an owner's devices are all in one
   * partition (by a stable hash of the owner id), so the per-owner policy (frequency cap,
   * declines) sees all of them.
   */
  partition(index: number, count: number): ListDirectory {
    return new ListDirectory(this.households.filter((h) => fnv1a(h[0].owner) % count === index).flat());
  }

  count(): number {
    return this.households.reduce((n, h) => n + h.length, 0);
  }

  /** Pages of about `pageSize` devices, whole households only (one may be larger). */
  *pages(pageSize: number): Iterable<DeviceInfo[]> {
    let page: DeviceInfo[] = [];
    for (const h of this.households) {
      if (page.length > 0 && page.length + h.length > pageSize) {
        yield page;
        page = [];
      }
      page.push(...h);
    }
    if (page.length > 0) yield page;
  }
}

/** The registry's devices, with owner, ownerSince and consent as they are now (fire time). */
export function registryDirectory(registry: Registry): ListDirectory {
  return new ListDirectory(registry.devices().map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, ownerSince: d.ownerSince, registeredAt: d.createdAt, consent: d.consent })));
}
