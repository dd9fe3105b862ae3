import { setTimeout as sleep } from 'node:timers/promises';
import type { Catalogue } from '../../protocol/models.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { SimClock } from '../clock.ts';
import type { Fleet, SimDevice } from '../fleet.ts';
import { DeviceSim, type SimReading } from '../generate.ts';
import { DAY_MS, FAULTS, PERSONAS, personaDef, SIM_KINDS, type Fault, type Kind, type Persona } from '../personas.ts';

/** Longest single wait, so that stopping stays prompt. */
const MAX_SLEEP_MS = 1_000;

export interface BenchDeviceOptions {
  id: string;
  kind: string;
  model?: string;
  persona?: string;
  firmware?: string;
  seed: number;
  epochMs: number;
  catalogue: Catalogue;
}

/**
 * A one-device fleet for a bench device that is not part of a provisioned fleet: its kind and
 * model (the model's first of its kind when none is named), a persona and its firmware. The
 * pattern of a persona that starts at a date starts half-way through its usual range.
 */
export function benchFleet(o: BenchDeviceOptions): Fleet {
  const bad = (m: string) => new UsageGatewayError('GW_ERR_USAGE', m);
  if (!SIM_KINDS.includes(o.kind as Kind)) throw bad(`--kind must be one of ${SIM_KINDS.join(', ')}, got "${o.kind}"`);
  const kind = o.kind as Kind;
  const persona = (o.persona ?? 'normal') as Persona;
  if (!PERSONAS.includes(persona)) throw bad(`--persona must be one of ${PERSONAS.join(', ')}, got "${o.persona}"`);
  const def = personaDef(persona);
  if (def && !def.kinds.includes(kind)) throw bad(`persona ${persona} is for ${def.kinds.join(' or ')}, not a ${kind}`);
  const fault = o.firmware === undefined || o.firmware === 'ok' ? null : (o.firmware as Fault);
  if (fault !== null && !FAULTS.includes(fault)) throw bad(`--firmware must be ok or one of ${FAULTS.join(', ')}, got "${o.firmware}"`);
  const models = o.catalogue.ofKind(kind);
  const model = o.model === undefined ? models[0] : o.catalogue.get(o.model);
  if (!model || model.kind !== kind) throw bad(`--model ${o.model} is not a ${kind} model of the catalogue (${models.map((m) => m.id).join(', ')})`);
  if (def?.needsSuccessor && model.successor === null) throw bad(`persona ${persona} needs a model with a successor to upsell to; ${model.id} has none`);
  if (def?.needsBattery && typeof model.battery_kwh !== 'number') throw bad(`persona ${persona} needs a car with a traction battery; ${model.id} has none`);
  const start = def?.startDaysBeforeEpoch;
  const device: SimDevice = {
    id: o.id, kind, model: model.id, owner: 'bench', consent: [], persona, fault,
    patternStartMs: start ? o.epochMs - Math.round(((start[0] + start[1]) / 2) * DAY_MS) : null,
  };
  return { seed: o.seed, epochMs: o.epochMs, devices: [device] };
}

/**
 * One device's readings, each handed out when the simulated clock reaches its time: what the
 * firmware of a device on the bench would print, live or time-compressed. Ends on abort.
 */
export async function* dueReadings(fleet: Fleet, device: SimDevice, catalogue: Catalogue, clock: SimClock, signal?: AbortSignal): AsyncGenerator<SimReading> {
  const sim = new DeviceSim(fleet, device, catalogue);
  for (const r of sim.readings(clock.fromMs, clock.fromMs + 3_650 * DAY_MS)) {
    while (!signal?.aborted && clock.now() < r.timeMs) {
      await sleep(Math.max(1, Math.min(MAX_SLEEP_MS, clock.wallMsUntil(r.timeMs))), undefined, { signal }).catch(() => {});
    }
    if (signal?.aborted) return;
    yield r;
  }
}
