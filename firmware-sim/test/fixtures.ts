import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { DEFAULT_MIX, planFleet, type Fleet, type Mix } from '../fleet.ts';
import type { Profile } from '../profile.ts';
import { fleetSims } from '../generate.ts';

export const DAY = 86_400_000;
/** A fixed epoch keeps the tests independent of the day they run. */
export const EPOCH = Date.UTC(2025, 2, 10);
export const catalogue = loadCatalogue(DEFAULT_MODELS_PATH);

export function fleetOf(devices: number, seed = 7, mix: Mix = DEFAULT_MIX, faultShare?: number, profile?: Profile): Fleet {
  return planFleet({ seed, devices, mix, epochMs: EPOCH, catalogue, faultShare, profile });
}

/** A fleet's readings between two times as JSON lines, the way `--out` writes them. */
export function jsonl(fleet: Fleet, fromMs: number, toMs: number): string {
  const lines: string[] = [];
  for (const sim of fleetSims(fleet, catalogue)) {
    for (const r of sim.readings(fromMs, toMs)) lines.push(JSON.stringify({ deviceId: r.deviceId, topic: r.topic, reading: r.reading }));
  }
  return lines.join('\n');
}
