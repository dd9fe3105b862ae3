import type { Registry } from '../../core/registry/index.ts';
import type { DeviceInfo } from '../detectors/index.ts';
import type { DeviceDirectory } from './evaluate.ts';

/** The devices of a list (a manifest, a test fleet), paged. */
export class ListDirectory implements DeviceDirectory {
  constructor(private readonly devices: readonly DeviceInfo[]) {}

  count(kind: string): number {
    return this.devices.filter((d) => d.kind === kind).length;
  }

  *pages(kind: string, pageSize: number): Iterable<DeviceInfo[]> {
    let page: DeviceInfo[] = [];
    for (const d of this.devices) {
      if (d.kind !== kind) continue;
      page.push(d);
      if (page.length === pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }
}

/** The registry's devices, with owner, ownerSince and consent as they are now (fire time). */
export function registryDirectory(registry: Registry): ListDirectory {
  return new ListDirectory(registry.devices().map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, ownerSince: d.ownerSince, registeredAt: d.createdAt, consent: d.consent })));
}
