import type { Catalogue } from '../protocol/models.ts';
import { readingsFor } from '../protocol/kinds/index.ts';
import type { Reading } from '../protocol/readings.ts';
import { DEFAULT_MIX, planFleet, type Fleet, type Mix } from './fleet.ts';
import { DeviceSim } from './generate.ts';
import { manifestOf, type Manifest } from './manifest.ts';
import { DEFAULT_PROFILE, parseNoise, parseProfile, type NoiseSettings, type Profile } from './profile.ts';

export interface SimulatedFleetOptions {
  seed: number;
  devices: number;
  epochMs: number;
  catalogue: Catalogue;
  profile?: Profile;
  noise?: NoiseSettings;
  mix?: Mix;
  prefix?: string;
}

/**
 * A planned fleet as history, for a backtest that does not go through a gateway: its ground
 * truth (the manifest, with every device's truth) and each device's readings between two
 * times, decoded as the gateway would store them (only what it keeps; no misbehaving
 * firmware). The readings are the very ones `sim backfill` publishes.
 */
export function simulatedFleet(o: SimulatedFleetOptions): { fleet: Fleet; manifest: Manifest; readings(device: { id: string }, fromMs: number, toMs: number): Iterable<Reading> } {
  const fleet = planFleet({ seed: o.seed, devices: o.devices, mix: o.mix ?? DEFAULT_MIX, epochMs: o.epochMs, catalogue: o.catalogue, prefix: o.prefix, faultShare: 0, profile: o.profile, noise: o.noise });
  const byId = new Map(fleet.devices.map((d) => [d.id, d]));
  return {
    fleet,
    manifest: manifestOf(fleet, undefined, o.catalogue),
    *readings(device, fromMs, toMs) {
      const d = byId.get(device.id);
      if (!d) return;
      const sim = new DeviceSim(fleet, d, o.catalogue);
      const defs = { telemetry: readingsFor(d.kind, 'telemetry')!, events: readingsFor(d.kind, 'events')! };
      // The generated values as they are (the very ones `sim backfill` frames and publishes),
      // without framing each into a payload and taking it apart again.
      for (const r of sim.kept(fromMs, toMs)) yield { def: defs[r.channel].get(r.body.type as string)!, timeMs: r.timeMs, seq: r.seq, values: r.body };
    },
  };
}

/** `simulatedFleet` with the profile and noise as a command line gives them (checked, with a clear error). */
export function simulatedHistory(o: Omit<SimulatedFleetOptions, 'profile' | 'noise'> & { profile?: string; noise?: string }) {
  const { manifest, readings } = simulatedFleet({ ...o, profile: parseProfile(o.profile ?? DEFAULT_PROFILE), noise: o.noise ? parseNoise(o.noise) : undefined });
  return { manifest, readings };
}
