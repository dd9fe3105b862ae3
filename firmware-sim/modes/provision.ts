import { access } from 'node:fs/promises';
import type { Registry } from '../../core/registry/index.ts';
import type { Catalogue } from '../../protocol/models.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { planFleet, type Fleet, type Mix, type PlanOptions } from '../fleet.ts';
import type { NoiseSettings, Profile } from '../profile.ts';
import { writeFleetFile, writeManifest } from '../manifest.ts';

export interface ProvisionOptions {
  registry: Registry;
  catalogue: Catalogue;
  devices: number;
  mix: Mix;
  seed: number;
  epochMs: number;
  prefix: string;
  faultShare: number;
  fleetPath: string;
  manifestPath: string;
  personaShares?: PlanOptions['personaShares'];
  profile?: Profile;
  noise?: NoiseSettings;
}

/**
 * Registers a planned fleet in the gateway's registry (one lock, one write) and keeps the
 * issued secrets with the ground truth in the fleet file (mode 0600), where the other modes
 * find them.
 */
export async function provisionFleet(o: ProvisionOptions): Promise<Fleet> {
  if (await access(o.fleetPath).then(() => true, () => false)) {
    throw new UsageGatewayError('GW_ERR_SIM_FLEET', `a simulated fleet already exists at ${o.fleetPath}; pass --fleet FILE (and --prefix) for another one, or remove its devices and the file first`);
  }
  const fleet = planFleet({ seed: o.seed, devices: o.devices, mix: o.mix, epochMs: o.epochMs, catalogue: o.catalogue, prefix: o.prefix, faultShare: o.faultShare, personaShares: o.personaShares, profile: o.profile, noise: o.noise });
  const taken = fleet.devices.filter((d) => o.registry.get(d.id)).map((d) => d.id);
  if (taken.length > 0) {
    throw new UsageGatewayError('GW_ERR_DEVICE_EXISTS', `${taken.length} of the fleet's device ids are already registered (first: ${taken[0]}); pass another --prefix`);
  }
  const made = await o.registry.addDevices(fleet.devices.map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent })));
  await writeFleetFile(o.fleetPath, { fleet, mix: o.mix, secrets: new Map(made.map((m) => [m.entry.id, m.secret])) });
  await writeManifest(o.manifestPath, fleet, { mode: 'provision', startedAt: new Date().toISOString() }, o.catalogue);
  return fleet;
}
