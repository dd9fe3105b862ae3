import { join } from 'node:path';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { DEFAULT_MIX, planFleet, type Fleet, type SimDevice } from '../../firmware-sim/fleet.ts';
import { DeviceSim } from '../../firmware-sim/generate.ts';
import { Registry } from '../../core/registry/index.ts';
import { DAY_MS, dayFloor } from '../../core/time.ts';
import { loadCatalogue, type Catalogue } from '../../protocol/models.ts';
import { topics } from '../../protocol/topics.ts';

export const catalogue: Catalogue = loadCatalogue(DEFAULT_MODELS_PATH);

/**
 * A device of the load: its credentials and its readings' bodies, drawn from the simulator's
 * generator (well-formed, realistic, 150–300 bytes) without `ts` and `seq`, which the load
 * stamps with the scheduled send time so that every reading sent is a distinct point.
 */
export interface LoadDevice {
  id: string;
  kind: string;
  model: string;
  secret: string;
  topic: string;
  /** `"type":"cycle",…` — a reading's JSON without braces, ts and seq. */
  bodies: string[];
}

/** A fleet of the simulator (no misbehaving firmware: every reading sent should be stored). */
export function benchFleet(devices: number, prefix: string, seed = 8): Fleet {
  return planFleet({ seed, devices, mix: DEFAULT_MIX, epochMs: dayFloor(Date.now()), catalogue, prefix, faultShare: 0 });
}

/** Registers the fleet in the registry file a gateway will read; returns the secrets. */
export async function provision(dataDir: string, fleet: Fleet, log: (m: string) => void): Promise<Map<string, string>> {
  const registry = new Registry(join(dataDir, 'registry.json'), catalogue);
  await registry.load();
  const secrets = new Map<string, string>();
  const chunk = 2_000;
  for (let i = 0; i < fleet.devices.length; i += chunk) {
    const made = await registry.addDevices(fleet.devices.slice(i, i + chunk).map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent })));
    for (const m of made) secrets.set(m.entry.id, m.secret);
    log(`provisioned ${Math.min(i + chunk, fleet.devices.length)}/${fleet.devices.length} devices`);
  }
  return secrets;
}

function bodiesOf(fleet: Fleet, d: SimDevice, max: number): string[] {
  const sim = new DeviceSim(fleet, d, catalogue);
  const out: string[] = [];
  const now = Date.now();
  for (const r of sim.readings(now - 60 * DAY_MS, now)) {
    if (r.channel !== 'telemetry' || r.expect !== 'ok') continue;
    const { ts: _ts, seq: _seq, ...rest } = r.reading;
    out.push(JSON.stringify(rest).slice(1, -1));
    if (out.length >= max) break;
  }
  return out;
}

/** Load devices with up to `perDevice` reading bodies each (a device with none borrows from its kind). */
export function loadDevices(fleet: Fleet, secrets: Map<string, string>, perDevice = 16): LoadDevice[] {
  const byKind = new Map<string, string[]>();
  const out = fleet.devices.map((d) => {
    const bodies = bodiesOf(fleet, d, perDevice);
    if (bodies.length > 0 && !byKind.has(d.kind)) byKind.set(d.kind, bodies);
    return { id: d.id, kind: d.kind, model: d.model, secret: secrets.get(d.id) ?? '', topic: topics.telemetry(d.id), bodies };
  });
  for (const d of out) if (d.bodies.length === 0) d.bodies = byKind.get(d.kind) ?? [];
  return out;
}
