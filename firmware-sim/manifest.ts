import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { UsageGatewayError } from '../protocol/errors.ts';
import type { Catalogue } from '../protocol/models.ts';
import { CONSENT_PURPOSES } from '../protocol/registry.ts';
import { DEVICE_ID_RE } from '../protocol/topics.ts';
import { DEVICE_TRAITS, type Fleet, type Mix, type SimDevice } from './fleet.ts';
import { DeviceSim, truthOf, type TruthSpan } from './generate.ts';
import { DAY_MS, FAULTS, PERSONAS, SIM_KINDS } from './personas.ts';
import { PROFILES, type NoiseSettings, type Profile } from './profile.ts';

/**
 * The ground truth of a fleet: device → kind, model, owner, persona and when its pattern
 * starts and, per device, what is true over the days of `truthRange` (persona patterns with
 * their spans, the household's absences, replacement, resale, stuck or missing sensors, the
 * season where it moves the device's figures). Written with every run, so analytics can
 * measure precision and recall against it and tell a miss from a correct silence.
 */
export interface Manifest {
  version: 2;
  seed: number;
  epoch: string;
  profile: Profile;
  noise?: NoiseSettings;
  run?: { mode: string; from?: string; to?: string; startedAt: string };
  /** The days the devices' `truth` covers. */
  truthRange?: { from: string; to: string };
  devices: ManifestEntry[];
}

export interface ManifestEntry {
  id: string; kind: string; model: string; owner: string; consent: string[];
  persona: string; patternStart: string | null; firmware: string;
  traits?: string[];
  /** When the current owner took the device over (a resale). */
  ownerSince?: string;
  activeFrom?: string;
  activeUntil?: string;
  replaces?: string;
  replacedBy?: string;
  previousOwners?: Array<{ owner: string; until: string }>;
  truth?: TruthSpan[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The manifest of a fleet; with a catalogue, each device's truth over the year before the
 * epoch and the run's range (whichever reaches further), up to 30 days past its end.
 */
export function manifestOf(fleet: Fleet, run?: Manifest['run'], catalogue?: Catalogue): Manifest {
  const fromMs = Math.min(fleet.epochMs - 400 * DAY_MS, run?.from ? Date.parse(run.from) : Infinity);
  const toMs = Math.max(fleet.epochMs, run?.to ? Date.parse(run.to) : -Infinity) + 30 * DAY_MS;
  return {
    version: 2,
    seed: fleet.seed,
    epoch: iso(fleet.epochMs),
    profile: fleet.profile ?? 'clean',
    ...(fleet.noise ? { noise: fleet.noise } : {}),
    ...(run ? { run } : {}),
    ...(catalogue ? { truthRange: { from: iso(fromMs), to: iso(toMs) } } : {}),
    devices: fleet.devices.map((d) => ({
      id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent, persona: d.persona,
      patternStart: d.patternStartMs === null ? null : iso(d.patternStartMs),
      firmware: d.fault ?? 'ok',
      ...(d.traits?.length ? { traits: d.traits } : {}),
      ...(d.previousOwners?.length ? { ownerSince: iso(d.previousOwners.at(-1)!.untilMs), previousOwners: d.previousOwners.map((p) => ({ owner: p.owner, until: iso(p.untilMs) })) } : {}),
      ...(d.activeFromMs != null ? { activeFrom: iso(d.activeFromMs) } : {}),
      ...(d.activeUntilMs != null ? { activeUntil: iso(d.activeUntilMs) } : {}),
      ...(d.replaces ? { replaces: d.replaces } : {}),
      ...(d.replacedBy ? { replacedBy: d.replacedBy } : {}),
      ...(catalogue ? { truth: truthOf(new DeviceSim(fleet, d, catalogue), fromMs, toMs) } : {}),
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

export async function writeManifest(path: string, fleet: Fleet, run?: Manifest['run'], catalogue?: Catalogue): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(manifestOf(fleet, run, catalogue), null, 1)}\n`);
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
  // The realistic profile's (absent from clean fleets and from files written before profiles).
  episodes: z.array(z.object({ persona: z.enum(PERSONAS), from: z.iso.datetime().nullable(), to: z.iso.datetime().nullable() }).strict()).optional(),
  traits: z.array(z.enum(DEVICE_TRAITS)).optional(),
  activeFrom: z.iso.datetime().optional(),
  activeUntil: z.iso.datetime().optional(),
  replaces: z.string().optional(),
  replacedBy: z.string().optional(),
  previousOwners: z.array(z.object({ owner: z.string().min(1), consent: z.array(z.enum(CONSENT_PURPOSES)), until: z.iso.datetime() }).strict()).optional(),
}).strict();

const noiseSchema = z.object({ load: z.number(), vibration: z.number(), temp: z.number(), soh: z.number(), stuck: z.number(), missing: z.number() }).strict();

const fleetFileSchema = z.object({
  version: z.literal(1),
  seed: z.number().int(),
  epoch: z.iso.datetime(),
  mix: z.object({ washer: z.number(), fridge: z.number(), car: z.number() }).strict(),
  createdAt: z.iso.datetime(),
  /** Absent in files written before profiles: those fleets are clean. */
  profile: z.enum(PROFILES).optional(),
  noise: noiseSchema.optional(),
  devices: z.array(fleetDeviceSchema).min(1),
}).strict();

export interface ProvisionedFleet {
  fleet: Fleet;
  mix: Mix;
  secrets: Map<string, string>;
}

export async function writeFleetFile(path: string, p: ProvisionedFleet): Promise<void> {
  const f = p.fleet;
  const doc = {
    version: 1, seed: f.seed, epoch: iso(f.epochMs), mix: p.mix, createdAt: new Date().toISOString(), profile: f.profile ?? 'clean',
    ...(f.noise ? { noise: f.noise } : {}),
    devices: f.devices.map((d) => ({
      id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: d.consent, persona: d.persona,
      patternStart: d.patternStartMs === null ? null : iso(d.patternStartMs), firmware: d.fault ?? 'ok', secret: p.secrets.get(d.id),
      ...(d.episodes ? { episodes: d.episodes.map((e) => ({ persona: e.persona, from: e.fromMs === null ? null : iso(e.fromMs), to: e.toMs === null ? null : iso(e.toMs) })) } : {}),
      ...(d.traits?.length ? { traits: d.traits } : {}),
      ...(d.activeFromMs != null ? { activeFrom: iso(d.activeFromMs) } : {}),
      ...(d.activeUntilMs != null ? { activeUntil: iso(d.activeUntilMs) } : {}),
      ...(d.replaces ? { replaces: d.replaces } : {}),
      ...(d.replacedBy ? { replacedBy: d.replacedBy } : {}),
      ...(d.previousOwners?.length ? { previousOwners: d.previousOwners.map((o) => ({ owner: o.owner, consent: o.consent, until: iso(o.untilMs) })) } : {}),
    })),
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
  const ms = (v: string | null | undefined) => (v == null ? null : Date.parse(v));
  const devices: SimDevice[] = f.devices.map((d) => ({
    id: d.id, kind: d.kind as SimDevice['kind'], model: d.model, owner: d.owner, consent: d.consent, persona: d.persona,
    patternStartMs: d.patternStart === null ? null : Date.parse(d.patternStart),
    fault: d.firmware === 'ok' ? null : d.firmware,
    ...(d.episodes ? { episodes: d.episodes.map((e) => ({ persona: e.persona, fromMs: ms(e.from), toMs: ms(e.to) })) } : {}),
    ...(d.traits ? { traits: d.traits } : {}),
    ...(d.activeFrom ? { activeFromMs: Date.parse(d.activeFrom) } : {}),
    ...(d.activeUntil ? { activeUntilMs: Date.parse(d.activeUntil) } : {}),
    ...(d.replaces ? { replaces: d.replaces } : {}),
    ...(d.replacedBy ? { replacedBy: d.replacedBy } : {}),
    ...(d.previousOwners ? { previousOwners: d.previousOwners.map((o) => ({ owner: o.owner, consent: o.consent, untilMs: Date.parse(o.until) })) } : {}),
  }));
  return {
    fleet: { seed: f.seed, epochMs: Date.parse(f.epoch), devices, profile: f.profile ?? 'clean', ...(f.noise ? { noise: f.noise } : {}) },
    mix: f.mix, secrets: new Map(f.devices.map((d) => [d.id, d.secret])),
  };
}
