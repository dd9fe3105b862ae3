import type { Catalogue, Model } from '../protocol/models.ts';
import type { ConsentPurpose } from '../protocol/registry.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { DAY_MS, FAULTS, PERSONA_DEFS, SIM_KINDS, type Fault, type Kind, type Persona, type PersonaDef } from './personas.ts';
import { DEFAULT_NOISE, DEFAULT_PROFILE, type NoiseSettings, type Profile } from './profile.ts';
import { hashKey, Rng } from './rng.ts';

/** One persona pattern of a device and when it holds: [fromMs, toMs), null for "from the start" / "to the end". */
export interface Episode {
  persona: Persona;
  fromMs: number | null;
  toMs: number | null;
}

/** Traits of an ordinary device that put it close to what a rule looks for (realistic profile). */
export const DEVICE_TRAITS = ['near-threshold', 'replacement'] as const;
export type DeviceTrait = (typeof DEVICE_TRAITS)[number];

/** One simulated device: who it is (registry) and what it is meant to show (ground truth). */
export interface SimDevice {
  id: string;
  kind: Kind;
  model: string;
  owner: string;
  consent: ConsentPurpose[];
  persona: Persona;
  /** When the persona's pattern begins (epoch ms); null when the device has it from the start. */
  patternStartMs: number | null;
  /** Misbehaving firmware, or null. */
  fault: Fault | null;
  /**
   * Realistic profile: every persona pattern the device carries (its `persona` first, then an
   * overlapping one), each with its span. Absent on clean fleets: `persona` from `patternStartMs`.
   */
  episodes?: Episode[];
  traits?: DeviceTrait[];
  /** It reports only from this time (a replacement bought then) … */
  activeFromMs?: number | null;
  /** … or until this time (replaced by a bigger model, `replacedBy`). */
  activeUntilMs?: number | null;
  replaces?: string;
  replacedBy?: string;
  /** Resold: its owners before the current one, oldest first, each until the day it changed hands. */
  previousOwners?: Array<{ owner: string; consent: ConsentPurpose[]; untilMs: number }>;
}

/** The device's persona patterns (clean fleets: its one persona from its pattern start). */
export function episodesOf(d: SimDevice): Episode[] {
  if (d.episodes) return d.episodes;
  return d.persona === 'normal' ? [] : [{ persona: d.persona, fromMs: d.patternStartMs, toMs: null }];
}

/** Is `persona`'s pattern under way on the device at `ms`? */
export function personaOn(d: SimDevice, persona: Persona, ms: number): boolean {
  for (const e of episodesOf(d)) if (e.persona === persona && (e.fromMs === null || ms >= e.fromMs) && (e.toMs === null || ms < e.toMs)) return true;
  return false;
}

/** The episode of `persona` the device has (the first), if any. */
export function episodeOf(d: SimDevice, persona: Persona): Episode | undefined {
  return episodesOf(d).find((e) => e.persona === persona);
}

/** Does the device report at `ms` (bought by then, not yet replaced)? */
export function activeAt(d: SimDevice, ms: number): boolean {
  return (d.activeFromMs == null || ms >= d.activeFromMs) && (d.activeUntilMs == null || ms < d.activeUntilMs);
}

/** Its owner at `ms` (a resold device had others before). */
export function ownerAt(d: SimDevice, ms: number): string {
  for (const p of d.previousOwners ?? []) if (ms < p.untilMs) return p.owner;
  return d.owner;
}

/** A fleet: the seed and epoch its readings derive from, and its devices. */
export interface Fleet {
  seed: number;
  /** Reference time of the fleet: personas' patterns are placed relative to it. */
  epochMs: number;
  devices: SimDevice[];
  /** How the fleet behaves (absent: clean, the fleets written before profiles). */
  profile?: Profile;
  /** Sensor noise of a realistic fleet. */
  noise?: NoiseSettings;
}

export type Mix = Record<Kind, number>;

export interface PlanOptions {
  seed: number;
  devices: number;
  mix: Mix;
  epochMs: number;
  catalogue: Catalogue;
  /** Device id prefix: ids are `<prefix>-<kind>-<n>`. */
  prefix?: string;
  /** Share of the normal devices whose firmware misbehaves. */
  faultShare?: number;
  /** Overrides of the default persona shares. */
  personaShares?: Partial<Record<Persona, number>>;
  /** Default: realistic. */
  profile?: Profile;
  noise?: NoiseSettings;
}

export const DEFAULT_MIX: Mix = { washer: 0.5, fridge: 0.3, car: 0.2 };
export const DEFAULT_FAULT_SHARE = 0.02;

/** Parses `washer=50%,fridge=30%,car=20%` (or fractions: `washer=0.5,…`); shares must add up to 100%. */
export function parseMix(text: string): Mix {
  const mix: Mix = { washer: 0, fridge: 0, car: 0 };
  const bad = (why: string) => new UsageGatewayError('GW_ERR_SIM_MIX', `--mix "${text}": ${why}; expected e.g. washer=50%,fridge=30%,car=20%`);
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)(%?)$/.exec(part);
    if (!m) throw bad(`cannot read "${part}"`);
    const kind = m[1] as Kind;
    if (!SIM_KINDS.includes(kind)) throw bad(`unknown kind "${m[1]}" (known: ${SIM_KINDS.join(', ')})`);
    const v = Number(m[2]) / (m[3] ? 100 : 1);
    if (v > 1) throw bad(`share of ${kind} is over 100%`);
    mix[kind] = v;
  }
  const total = mix.washer + mix.fridge + mix.car;
  if (Math.abs(total - 1) > 0.005) throw bad(`shares add up to ${Math.round(total * 1000) / 10}%, not 100%`);
  return mix;
}

/** Splits n by shares so the parts add up to n exactly (largest remainder). */
function apportion(n: number, shares: readonly number[]): number[] {
  const raw = shares.map((s) => s * n);
  const out = raw.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i]++;
    left--;
  }
  return out;
}

const SEGMENT_WEIGHT: Record<string, number> = { entry: 0.35, mid: 0.4, premium: 0.25 };

function chooseModel(rng: Rng, models: Model[], def: PersonaDef | undefined, kind: Kind): Model {
  let ok = models;
  if (def?.needsSuccessor) ok = ok.filter((m) => m.successor !== null);
  if (def?.needsBattery) ok = ok.filter((m) => typeof m.battery_kwh === 'number');
  if (ok.length === 0) throw new UsageGatewayError('GW_ERR_SIM_FLEET', `the catalogue has no ${kind} model fit for persona ${def?.persona}`);
  // Overloaders and crowded fridges are likelier on the smaller models, as in life.
  const weights = ok.map((m) => (SEGMENT_WEIGHT[m.segment] ?? 0.3) * (def?.needsSuccessor && m.segment === 'entry' ? 2 : 1));
  return rng.weighted(ok, weights);
}

const CONSENTS: readonly ConsentPurpose[][] = [['marketing', 'service'], ['service'], ['marketing'], []];
const CONSENT_WEIGHTS = [0.55, 0.3, 0.05, 0.1];

/**
 * Plans a fleet: a pure function of its options. Persona counts are exact (not drawn), so a
 * fleet of 1,000 washers has 80 overloaders, not "about 80".
 */
export function planFleet(o: PlanOptions): Fleet {
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new UsageGatewayError('GW_ERR_USAGE', `--devices must be a whole number ≥ 1, got ${o.devices}`);
  const prefix = o.prefix ?? 'sim';
  const counts = apportion(o.devices, SIM_KINDS.map((k) => o.mix[k]));
  const households = Math.max(1, Math.round(o.devices / 1.4));
  const devices: SimDevice[] = [];
  SIM_KINDS.forEach((kind, ki) => {
    const n = counts[ki];
    if (n === 0) return;
    const models = o.catalogue.ofKind(kind);
    if (models.length === 0) throw new UsageGatewayError('GW_ERR_SIM_FLEET', `the catalogue has no ${kind} model`);
    const defs = PERSONA_DEFS.filter((d) => d.kinds.includes(kind));
    // Small fleets still get one of each persona once a kind has room for them.
    const perPersona = defs.map((d) => {
      const asked = o.personaShares?.[d.persona];
      if (asked !== undefined) return Math.round(asked * n);
      return Math.max(Math.round(d.share * n), n >= 2 * defs.length ? 1 : 0);
    });
    const personas: Persona[] = [];
    defs.forEach((d, i) => {
      for (let j = 0; j < perPersona[i] && personas.length < n; j++) personas.push(d.persona);
    });
    while (personas.length < n) personas.push('normal');
    new Rng(o.seed, 'personas', kind).shuffle(personas);
    const width = Math.max(5, String(n).length);
    for (let i = 0; i < n; i++) {
      const id = `${prefix}-${kind}-${String(i + 1).padStart(width, '0')}`;
      const rng = new Rng(o.seed, id, 'plan');
      const persona = personas[i];
      const def = PERSONA_DEFS.find((d) => d.persona === persona);
      const model = chooseModel(rng, models, def, kind);
      const household = rng.int(0, households - 1);
      const start = def?.startDaysBeforeEpoch;
      const patternStartMs = start ? o.epochMs - Math.round(rng.uniform(start[0], start[1]) * 24) * 3_600_000 : null;
      devices.push({ id, kind, model: model.id, owner: ownerId(o.seed, household), consent: [...consentOf(o.seed, household)], persona, patternStartMs, fault: null });
    }
  });
  // Misbehaving firmware only on normal devices, so persona statistics stay clean.
  const normals = devices.filter((d) => d.persona === 'normal');
  new Rng(o.seed, 'faults').shuffle(normals);
  const nFaulty = Math.min(normals.length, Math.round((o.faultShare ?? DEFAULT_FAULT_SHARE) * o.devices));
  for (let i = 0; i < nFaulty; i++) normals[i].fault = FAULTS[i % FAULTS.length];
  const profile = o.profile ?? DEFAULT_PROFILE;
  if (profile === 'clean') return { seed: o.seed, epochMs: o.epochMs, devices, profile };
  return { seed: o.seed, epochMs: o.epochMs, devices: realisticFleet(o, devices), profile, noise: { ...(o.noise ?? DEFAULT_NOISE) } };
}

/** Overlapping patterns a device of a persona may also get (realistic): what tends to come together. */
const SECOND: Partial<Record<Persona, Persona[]>> = {
  'washer-overloader': ['bearing-wear', 'recurring-error'],
  'heavy-user': ['bearing-wear', 'recurring-error'],
  'bearing-wear': ['recurring-error'],
  'fridge-crowded': ['recurring-error', 'fridge-temp-excursion'],
  'fridge-temp-excursion': ['recurring-error'],
  'car-low-mileage': ['car-dtc'],
  'car-dtc': ['car-battery-decline'],
};
/** Share of persona devices with a second, overlapping pattern. */
const SECOND_SHARE = 0.15;
/** Share of ordinary devices near what a rule looks for, per kind. */
const NEAR_SHARE: Record<Kind, number> = { washer: 0.15, fridge: 0.12, car: 0.15 };
/** Upsell personas that end with the bigger model bought (a converted upgrade), and how often. */
const REPLACED: Partial<Record<Persona, number>> = { 'washer-overloader': 0.3, 'fridge-crowded': 0.25 };
/** Share of ordinary devices sold on to another household during the year, per kind. */
const RESOLD: Record<Kind, number> = { washer: 0.01, fridge: 0.01, car: 0.04 };

/**
 * The realistic profile on top of a planned fleet: persona patterns spread over the year before
 * the epoch with their ends (repairs, fixes), overlapping patterns, near-threshold households,
 * replacements by the successor model after a converted upgrade, resales.
 */
function realisticFleet(o: PlanOptions, devices: SimDevice[]): SimDevice[] {
  const out: SimDevice[] = [];
  const yearMs = (rng: Rng, minDays: number, maxDays: number) => o.epochMs - Math.round(rng.uniform(minDays, maxDays) * 24) * 3_600_000;
  const episode = (rng: Rng, p: Persona): Episode => {
    const def = PERSONA_DEFS.find((d) => d.persona === p)!;
    if (def.realistic.onset === 'start') return { persona: p, fromMs: null, toMs: null };
    const fromMs = yearMs(rng, 7, 350);
    const lasts = def.realistic.lastsDays;
    const ends = lasts && rng.chance(def.realistic.endsChance ?? 1);
    return { persona: p, fromMs, toMs: ends ? fromMs + Math.round(rng.uniform(lasts[0], lasts[1])) * DAY_MS : null };
  };
  for (const d of devices) {
    const rng = new Rng(o.seed, d.id, 'realistic');
    const model = o.catalogue.get(d.model)!;
    out.push(d);
    if (d.persona === 'normal') {
      if (rng.chance(NEAR_SHARE[d.kind])) d.traits = ['near-threshold'];
      d.episodes = [];
      if (rng.chance(RESOLD[d.kind])) {
        const untilMs = yearMs(rng, 10, 300);
        const buyer = ownerId(o.seed, `resale-${d.id}`);
        d.previousOwners = [{ owner: d.owner, consent: d.consent, untilMs }];
        d.owner = buyer;
        d.consent = [...consentOf(o.seed, `resale-${d.id}`)];
      }
      continue;
    }
    const first = episode(rng, d.persona);
    d.episodes = [first];
    d.patternStartMs = first.fromMs;
    const second = (SECOND[d.persona] ?? []).filter((p) => p !== 'car-battery-decline' || typeof model.battery_kwh === 'number');
    if (second.length > 0 && rng.chance(SECOND_SHARE)) d.episodes.push(episode(rng, rng.pick(second)));
    const replaced = REPLACED[d.persona];
    const successor = model.successor ? o.catalogue.get(model.successor) : undefined;
    if (replaced && successor && rng.chance(replaced)) {
      const atMs = o.epochMs - Math.round(rng.uniform(10, 300)) * DAY_MS;
      first.toMs = atMs;
      d.activeUntilMs = atMs;
      // Overlapping patterns end with the old machine too.
      for (const e of d.episodes) if (e.toMs === null || e.toMs > atMs) e.toMs = atMs;
      d.episodes = d.episodes.filter((e) => e.fromMs === null || e.fromMs < atMs);
      const next: SimDevice = {
        id: `${d.id}-r`, kind: d.kind, model: successor.id, owner: d.owner, consent: [...d.consent], persona: 'normal', patternStartMs: null, fault: null,
        // Delivered as the old one is taken away: the same day or the next.
        episodes: [], traits: ['replacement'], activeFromMs: atMs + rng.int(0, 1) * DAY_MS, replaces: d.id,
      };
      d.replacedBy = next.id;
      out.push(next);
    }
  }
  return out;
}

/** Pseudonymous customer id: nothing in it points at a person. */
function ownerId(seed: number, household: number | string): string {
  const a = (hashKey([seed, 'owner', household]) >>> 0).toString(16).padStart(8, '0');
  const b = (hashKey([seed, 'owner2', household]) >>> 0).toString(16).padStart(8, '0');
  return `cust-${a}${b.slice(0, 4)}`;
}

/** Of the owners who consented to marketing or service, the share who also let their data count in product statistics (illustrative). */
const ANALYTICS_SHARE = 0.6;

function consentOf(seed: number, household: number | string): ConsentPurpose[] {
  const base = new Rng(seed, 'consent', household).weighted(CONSENTS, CONSENT_WEIGHTS);
  // Drawn from a stream of its own, so every other draw of a fleet stays as it was.
  return base.length > 0 && new Rng(seed, 'consent-analytics', household).chance(ANALYTICS_SHARE) ? [...base, 'analytics'] : base;
}

// The default epoch is the midnight UTC of a day (dayFloor), so that runs of one day agree.
export { dayFloor } from '../core/time.ts';
