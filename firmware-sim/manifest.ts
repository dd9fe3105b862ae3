import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { UsageGatewayError } from '../protocol/errors.ts';
import { CONSENT_PURPOSES } from '../protocol/registry.ts';
import { DEVICE_ID_RE } from '../protocol/topics.ts';
import type { Fleet, Mix, SimDevice } from './fleet.ts';
import { FAULTS, PERSONAS, SIM_KINDS } from './personas.ts';

/**
 * The ground truth of a fleet: device → kind, model, owner, persona and when its pattern
 * starts. Written with every run, so analytics can measure precision and recall against it
 * (analytics reads `devices[].id`, `persona`, `patternStart`).
 */
export interface Manifest {
  version: 1;
  seed: number;
  epoch: string;
  run?: { mode: string; from?: string; to?: string; startedAt: string };
  devices: Array<{
    id: string; kind: string; model: string; owner: string; consent: string[];
    persona: string; patternStart: string | null; firmware: string;
  }>;
}

export function manifestOf(fleet: Fleet, run?: Manifest['run']): Manifest {
  return {
    version: 1,
    seed: fleet.seed,
    epoch: new Date(fleet.epochMs).toISOString(),
    ...(run ? { run } : {}),
    devices: fleet.devices.map((d) => ({
      id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent, persona: d.persona,
      patternStart: d.patternStartMs === null ? null : new Date(d.patternStartMs).toISOString(),
      firmware: d.fault ?? 'ok',
    })),
  };
}

/** Writes a file atomically (temp file, then rename), with the given mode. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, text, { mode });
    await chmod(tmp, mode); // the umask may have narrowed or widened it
    await rename(tmp, path);
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_SIM_OUTPUT', `cannot write ${path}: ${(err as Error).message}`);
  }
}

export async function writeManifest(path: string, fleet: Fleet, run?: Manifest['run']): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(manifestOf(fleet, run), null, 1)}\n`);
}

// The fleet file: the manifest plus each device's secret, so only its owner may read it.

const fleetDeviceSchema = z.object({
  id: z.string().regex(DEVICE_ID_RE),
  kind: z.enum(SIM_KINDS as unknown as [string, ...string[]]),
  model: z.string().min(1),
  owner: z.string().min(1),
  consent: z.array(z.enum(CONSENT_PURPOSES)),
  persona: z.enum(PERSONAS),
  patternStart: z.iso.datetime().nullable(),
  firmware: z.enum(['ok', ...FAULTS]),
  secret: z.string().min(1),
}).strict();

const fleetFileSchema = z.object({
  version: z.literal(1),
  seed: z.number().int(),
  epoch: z.iso.datetime(),
  mix: z.object({ washer: z.number(), fridge: z.number(), car: z.number() }).strict(),
  createdAt: z.iso.datetime(),
  devices: z.array(fleetDeviceSchema).min(1),
}).strict();

export interface ProvisionedFleet {
  fleet: Fleet;
  mix: Mix;
  secrets: Map<string, string>;
}

export async function writeFleetFile(path: string, p: ProvisionedFleet): Promise<void> {
  const m = manifestOf(p.fleet);
  const doc = {
    version: 1, seed: m.seed, epoch: m.epoch, mix: p.mix, createdAt: new Date().toISOString(),
    devices: m.devices.map((d) => ({ ...d, secret: p.secrets.get(d.id) })),
  };
  await writeFileAtomic(path, `${JSON.stringify(doc, null, 1)}\n`, 0o600);
}

export async function readFleetFile(path: string): Promise<ProvisionedFleet> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new UsageGatewayError('GW_ERR_SIM_FLEET', missing
      ? `no simulated fleet at ${path}: run \`usage-gateway sim provision --devices N\` first (or pass --fleet FILE)`
      : `cannot read the fleet file ${path}: ${(err as Error).message}`);
  }
  const parsed = fleetFileSchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.slice(0, 10).map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new UsageGatewayError('GW_ERR_SIM_FLEET', `the fleet file ${path} is invalid:\n${lines.join('\n')}`);
  }
  const f = parsed.data;
  const devices: SimDevice[] = f.devices.map((d) => ({
    id: d.id, kind: d.kind as SimDevice['kind'], model: d.model, owner: d.owner, consent: d.consent, persona: d.persona,
    patternStartMs: d.patternStart === null ? null : Date.parse(d.patternStart),
    fault: d.firmware === 'ok' ? null : d.firmware,
  }));
  return { fleet: { seed: f.seed, epochMs: Date.parse(f.epoch), devices }, mix: f.mix, secrets: new Map(f.devices.map((d) => [d.id, d.secret])) };
}
