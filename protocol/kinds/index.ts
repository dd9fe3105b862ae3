import { compileReading, type CompiledReading, type KindDef } from '../reading-def.ts';
import { car } from './car.ts';
import { commonEvents } from './events.ts';
import { fridge } from './fridge.ts';
import { washer } from './washer.ts';

/** Every device kind the gateway knows. Adding a kind: one module here, and catalogue entries. */
export const KINDS: readonly KindDef[] = [washer, fridge, car];

export const KIND_NAMES = KINDS.map((k) => k.kind);

const compiled = new Map<string, Map<string, CompiledReading>>();
for (const def of KINDS) {
  const byKey = new Map<string, CompiledReading>();
  for (const reading of [...def.readings, ...commonEvents]) {
    byKey.set(`${reading.channel}/${reading.type}`, compileReading(reading));
  }
  compiled.set(def.kind, byKey);
}

/** The readings a device of `kind` may send on `channel`, keyed by type. */
export function readingsFor(kind: string, channel: string): Map<string, CompiledReading> | undefined {
  const byKey = compiled.get(kind);
  if (!byKey) return undefined;
  const out = new Map<string, CompiledReading>();
  for (const r of byKey.values()) if (r.channel === channel) out.set(r.type, r);
  return out;
}

/** Every compiled reading, each measurement once (for storage set-up, docs and boards). */
export function allReadings(): CompiledReading[] {
  const seen = new Map<string, CompiledReading>();
  for (const byKey of compiled.values()) for (const r of byKey.values()) seen.set(r.measurement, r);
  return [...seen.values()];
}

export { washer, fridge, car, commonEvents };
