import { compileReading, type CompiledReading, type KindDef } from '../reading-def.ts';
import { READING_CHANNELS } from '../topics.ts';
import { car } from './car.ts';
import { commonEvents } from './events.ts';
import { fridge } from './fridge.ts';
import { washer } from './washer.ts';

/** Every device kind the gateway knows. Adding a kind: one module here, and catalogue entries. */
export const KINDS: readonly KindDef[] = [washer, fridge, car];

export const KIND_NAMES = KINDS.map((k) => k.kind);

const compiled = new Map<string, Map<string, CompiledReading>>();
/** kind → channel → type → reading, built once: it is looked up for every message. */
const byChannel = new Map<string, Map<string, ReadonlyMap<string, CompiledReading>>>();
for (const def of KINDS) {
  const byKey = new Map<string, CompiledReading>();
  const channels = new Map<string, Map<string, CompiledReading>>(READING_CHANNELS.map((c) => [c, new Map()]));
  for (const reading of [...def.readings, ...commonEvents]) {
    const r = compileReading(reading);
    byKey.set(`${reading.channel}/${reading.type}`, r);
    if (!channels.has(r.channel)) channels.set(r.channel, new Map());
    channels.get(r.channel)!.set(r.type, r);
  }
  compiled.set(def.kind, byKey);
  byChannel.set(def.kind, channels);
}

/** The readings a device of `kind` may send on `channel`, keyed by type (empty for a channel without readings). */
export function readingsFor(kind: string, channel: string): ReadonlyMap<string, CompiledReading> | undefined {
  const channels = byChannel.get(kind);
  if (!channels) return undefined;
  return channels.get(channel) ?? new Map();
}

/** Every compiled reading, each measurement once (for storage set-up, docs and boards). */
export function allReadings(): CompiledReading[] {
  const seen = new Map<string, CompiledReading>();
  for (const byKey of compiled.values()) for (const r of byKey.values()) seen.set(r.measurement, r);
  return [...seen.values()];
}

export { washer, fridge, car, commonEvents };
