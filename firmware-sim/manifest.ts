import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { UsageGatewayError } from '../protocol/errors.ts';
import type { Catalogue } from '../protocol/models.ts';
import { CONSENT_PURPOSES } from '../protocol/registry.ts';
import { DEVICE_ID_RE } from '../protocol/topics.ts';
import { DEVICE_TRAITS, episodesOf, type Fleet, type Mix, type SimDevice } from './fleet.ts';
import { DeviceSim, truthOf, type TruthSpan } from './generate.ts';
import { DAY_MS, FAULTS, PERSONAS, SIM_KINDS } from './personas.ts';
import { PROFILES, type NoiseSettings, type Profile } from './profile.ts';
import { failureProfileOf, FIRMWARE_RELEASES, firmwareMultiplier, firmwareOf, modelThatFits, usageProfileOf, type FailureProfile, type UsageProfile } from './profiles.ts';
import { overloadOf, type WasherTraits } from './models/washer.ts';

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
  /**
   * What each model of the fleet's kinds plants (with a catalogue): the firmware releases its
   * devices run and, realistic, its owners' usage profile and its failure profile (base
   * warnings per 100 cycles, the overload multiplier, the faulty firmware version).
   */
  models?: ManifestModel[];
  devices: ManifestEntry[];
}

export interface ManifestModel {
  id: string;
  kind: string;
  firmware: { versions: readonly string[]; shares: readonly number[] };
  usage?: UsageProfile;
  failure?: FailureProfile;
}

export interface ManifestEntry {
  id: string; kind: string; model: string; owner: string; consent: string[];
  persona: string; patternStart: string | null; firmware: string;
  /** The firmware version it runs (every reading carries it); `firmware` is whether that firmware misbehaves. */
  firmwareVersion?: string;
  /** Realistic: it runs its model's faulty firmware version (warnings that many times as often). */
  faultyFirmware?: number;
  /**
   * Washers (with a catalogue): whether the owner outgrows the model, washing above its capacity
   * on most cycles; for an overloading household the share of its washes above the drum, their
   * typical load and the smallest model whose drum would hold it (null: none in the catalogue).
   */
  outgrows?: boolean;
  overload?: { share: number; typicalKg: number; fits: string | null };
  /** Realistic: its recurring error follows its overloaded washes (both patterns at once). */
  errorsFollowOverload?: boolean;
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
    ...(catalogue ? { truthRange: { from: iso(fromMs), to: iso(toMs) }, models: modelsOf(fleet, catalogue) } : {}),
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
      firmwareVersion: firmwareOf(fleet.seed, d),
      ...(catalogue ? usageFacts(fleet, d, catalogue, toMs) : {}),
      ...(catalogue ? { truth: truthOf(new DeviceSim(fleet, d, catalogue), fromMs, toMs) } : {}),
    })),
  };
}

function modelsOf(fleet: Fleet, catalogue: Catalogue): ManifestModel[] {
  const realistic = (fleet.profile ?? 'clean') === 'realistic';
  const kinds = new Set(fleet.devices.map((d) => d.kind));
  return catalogue.models.filter((m) => kinds.has(m.kind as never)).map((m) => {
    const releases = FIRMWARE_RELEASES[m.kind as keyof typeof FIRMWARE_RELEASES];
    const usage = realistic ? usageProfileOf(m) : undefined;
    const failure = realistic ? failureProfileOf(m) : undefined;
    return { id: m.id, kind: m.kind, firmware: { versions: releases.versions, shares: releases.weights }, ...(usage ? { usage } : {}), ...(failure ? { failure } : {}) };
  });
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** A device's planted usage and failure facts: faulty firmware, an owner outgrowing the washer, errors that follow overloads. */
function usageFacts(fleet: Fleet, d: SimDevice, catalogue: Catalogue, atMs: number): Partial<ManifestEntry> {
  const realistic = (fleet.profile ?? 'clean') === 'realistic';
  const model = catalogue.get(d.model);
  if (!model) return {};
  const out: Partial<ManifestEntry> = {};
  const fw = firmwareMultiplier(model, firmwareOf(fleet.seed, d));
  if (realistic && fw > 1) out.faultyFirmware = fw;
  if (d.kind !== 'washer') return out;
  const overloads = episodesOf(d).some((e) => e.persona === 'washer-overloader');
  out.outgrows = false;
  if (overloads) {
    const traits = new DeviceSim(fleet, d, catalogue).traitsAt(Math.floor(atMs / DAY_MS)) as WasherTraits;
    const o = overloadOf(traits, realistic);
    out.outgrows = o.share >= 0.5;
    out.overload = { share: r3(o.share), typicalKg: Math.round(o.typicalKg * 10) / 10, fits: modelThatFits(catalogue, 'washer', o.typicalKg) };
  }
  if (realistic) {
    const ep = episodesOf(d);
    const over = ep.filter((e) => e.persona === 'washer-overloader');
    const rec = ep.filter((e) => e.persona === 'recurring-error');
    const overlap = (a: { fromMs: number | null; toMs: number | null }, b: { fromMs: number | null; toMs: number | null }) =>
      (a.fromMs ?? -Infinity) < (b.toMs ?? Infinity) && (b.fromMs ?? -Infinity) < (a.toMs ?? Infinity);
    if (over.some((a) => rec.some((b) => overlap(a, b)))) out.errorsFollowOverload = true;
  }
  return out;
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
