import type { Catalogue, Model } from '../protocol/models.ts';
import type { SimDevice } from './fleet.ts';
import type { Kind } from './personas.ts';
import { Rng } from './rng.ts';

/**
 * What sets one model's owners apart (realistic profile): how full they fill the drum and which
 * programs (and so temperatures) they choose. A small drum's owners fill it fuller and wash
 * quick and synthetics programs more; a big one's wash cotton and intensive programs, hotter and
 * longer. How often a household washes stays the household's own.
 */
export interface UsageProfile {
  /** Added to an ordinary household's typical load (share of the drum); one already at the brim (near-threshold) stays where it is. */
  loadShift: number;
  /** Multiplies the share of these programs (others: 1). */
  programs: Readonly<Record<string, number>>;
}

/**
 * How a model fails (realistic profile): warnings that any machine reports now and then, as a
 * base rate per 100 cycles; a cycle above the drum's capacity multiplies the chance of one on
 * that cycle and on the household's later washes of the day (a strained motor, an unbalanced
 * drum); one firmware version of one model multiplies it again.
 *
 * The figures are illustrative, chosen to be realistic-low: about one warning in 100–200
 * cycles, so an ordinary machine reports a handful a year (well under what the recurring-error
 * rule looks for), while the planted effects (overload × 2–2.5, faulty firmware × 4) stand out in
 * fleet aggregates of a few hundred machines. (With overload × 3–3.5 an overloader's warnings came
 * back as one code often enough to draw false recurring-error visits: 7 in a fleet of 2,000.)
 */
export interface FailureProfile {
  errorsPer100Cycles: number;
  overloadMultiplier: number;
  /** The firmware version of this model that faults more, and by how much. */
  faultyFirmware?: { version: string; multiplier: number };
}

/** Firmware releases in the field per kind, with the share of devices on each. */
export const FIRMWARE_RELEASES: Record<Kind, { versions: readonly string[]; weights: readonly number[] }> = {
  washer: { versions: ['4.1.0', '4.2.1', '4.3.0'], weights: [0.25, 0.45, 0.3] },
  fridge: { versions: ['1.8.0', '1.9.2'], weights: [0.4, 0.6] },
  car: { versions: ['5.0.3', '5.1.0'], weights: [0.5, 0.5] },
};

/** Warnings a washer reports as machine faults (not the recurring-error persona's E21). */
export const WASHER_FAULT_CODES = [
  { code: 'E32', detail: 'unbalanced load: spin reduced' },
  { code: 'E41', detail: 'motor overheated: cycle paused' },
  { code: 'E13', detail: 'water inlet slow' },
  { code: 'E35', detail: 'water level sensor' },
  { code: 'E40', detail: 'door lock' },
  { code: 'E52', detail: 'motor tachometer signal' },
] as const;

const WASHER_USAGE: Record<string, UsageProfile> = {
  'WM-6': { loadShift: 0.1, programs: { quick: 1.6, synthetics: 1.3, eco: 0.7, intensive: 0.5 } },
  'WM-7': { loadShift: 0.06, programs: { quick: 1.3, synthetics: 1.2, intensive: 0.7 } },
  'WM-8': { loadShift: 0, programs: {} },
  'WM-9': { loadShift: -0.02, programs: { eco: 1.5 } },
  'WM-10': { loadShift: -0.04, programs: { cotton: 1.2, eco: 1.3, intensive: 1.5 } },
  'WM-12': { loadShift: -0.06, programs: { cotton: 1.3, intensive: 2, quick: 0.6 } },
};

const WASHER_FAILURE: Record<string, FailureProfile> = {
  'WM-6': { errorsPer100Cycles: 1, overloadMultiplier: 2.5 },
  // The fact to find: WM-7 on firmware 4.2.1 (its motor control tuned for another drum) faults four times as often.
  'WM-7': { errorsPer100Cycles: 0.8, overloadMultiplier: 2.5, faultyFirmware: { version: '4.2.1', multiplier: 4 } },
  'WM-8': { errorsPer100Cycles: 0.6, overloadMultiplier: 2.5 },
  'WM-9': { errorsPer100Cycles: 0.6, overloadMultiplier: 2.5 },
  'WM-10': { errorsPer100Cycles: 0.5, overloadMultiplier: 2 },
  'WM-12': { errorsPer100Cycles: 0.5, overloadMultiplier: 2 },
};

/** A washer model outside the table (a catalogue of one's own): by its segment. */
const BY_SEGMENT: Record<string, string> = { entry: 'WM-7', mid: 'WM-8', premium: 'WM-10' };

export function usageProfileOf(model: Model): UsageProfile | undefined {
  if (model.kind !== 'washer') return undefined;
  return WASHER_USAGE[model.id] ?? WASHER_USAGE[BY_SEGMENT[model.segment] ?? 'WM-8'];
}

export function failureProfileOf(model: Model): FailureProfile | undefined {
  if (model.kind !== 'washer') return undefined;
  const p = WASHER_FAILURE[model.id];
  if (p) return p;
  // Only the named model has the faulty firmware.
  const { faultyFirmware: _, ...rest } = WASHER_FAILURE[BY_SEGMENT[model.segment] ?? 'WM-8'];
  return rest;
}

/** The firmware version a device runs: drawn once from its kind's releases, a pure function of (seed, device). */
export function firmwareOf(seed: number, device: Pick<SimDevice, 'id' | 'kind'>): string {
  const r = FIRMWARE_RELEASES[device.kind];
  return new Rng(seed, device.id, 'firmware').weighted(r.versions, r.weights);
}

/** The faulty firmware's multiplier for a device of `model` running `version` (1: an ordinary one). */
export function firmwareMultiplier(model: Model, version: string): number {
  const f = failureProfileOf(model)?.faultyFirmware;
  return f && f.version === version ? f.multiplier : 1;
}

/** The model of `kind` that would hold `loadKg`: the smallest washer whose drum takes it (null: none does). */
export function modelThatFits(catalogue: Catalogue, kind: string, loadKg: number): string | null {
  const fits = catalogue.ofKind(kind).filter((m) => Number(m.capacity_kg) >= loadKg).sort((a, b) => Number(a.capacity_kg) - Number(b.capacity_kg));
  return fits[0]?.id ?? null;
}
