/**
 * The personas planted in a simulated fleet: each is the pattern one analytics rule must find
 * (names match the `personas` of config/rules.yaml). `normal` devices carry none and must stay
 * clearly clear of every rule.
 */

export { DAY_MS } from '../core/time.ts';

export type Kind = 'washer' | 'fridge' | 'car';
export const SIM_KINDS: readonly Kind[] = ['washer', 'fridge', 'car'];

export const PERSONAS = [
  'normal',
  'washer-overloader',
  'heavy-user',
  'bearing-wear',
  'recurring-error',
  'fridge-crowded',
  'fridge-temp-excursion',
  'car-low-mileage',
  'car-dtc',
  'car-battery-decline',
  'usage-collapse',
  'silent-device',
] as const;
export type Persona = (typeof PERSONAS)[number];

export interface PersonaDef {
  persona: Persona;
  kinds: readonly Kind[];
  /** Default share of the devices of each of its kinds. */
  share: number;
  /**
   * When the pattern begins, in days before the fleet epoch ([min, max], drawn per device);
   * null for traits a device has from the start (an overloader always overloads).
   */
  startDaysBeforeEpoch: readonly [number, number] | null;
  /** Needs a model with an upsell target (no upsell persona on the top model of a range). */
  needsSuccessor?: boolean;
  /** Needs a traction battery (EV or hybrid). */
  needsBattery?: boolean;
  /** What it plants, on a clean fleet; `realisticDescription` on a realistic one. */
  description: string;
  realisticDescription: string;
  /**
   * Realistic profile: `start`, a trait from the start (until the device is replaced); `year`,
   * a pattern that begins on a day within the year before the epoch, and `lastsDays`, how long
   * it lasts when it ends (a repair, a fix), with `endsChance` (default: always; none: never).
   */
  realistic: { onset: 'start' | 'year'; lastsDays?: readonly [number, number]; endsChance?: number };
}

export const PERSONA_DEFS: readonly PersonaDef[] = [
  { persona: 'washer-overloader', kinds: ['washer'], share: 0.08, startDaysBeforeEpoch: null, needsSuccessor: true, realistic: { onset: 'start' }, realisticDescription: 'loads above the drum capacity on 40–80% of washes, 10–35% beyond it on average', description: 'loads above the drum capacity on about 80% of cycles' },
  { persona: 'heavy-user', kinds: ['washer'], share: 0.06, startDaysBeforeEpoch: null, realistic: { onset: 'start' }, realisticDescription: '13–18 cycles a week at home, three to four times the usual household', description: '13–18 cycles a week, three times the usual household' },
  { persona: 'bearing-wear', kinds: ['washer'], share: 0.05, startDaysBeforeEpoch: [30, 45], realistic: { onset: 'year', lastsDays: [45, 150], endsChance: 0.5 }, realisticDescription: 'spin vibration grows 1–3% a day, compounding (up to 3×), until repaired (half are, after 45–150 days)', description: 'spin vibration rises about 3% a day from the start' },
  { persona: 'recurring-error', kinds: ['washer', 'fridge'], share: 0.05, startDaysBeforeEpoch: [10, 25], realistic: { onset: 'year', lastsDays: [14, 60] }, realisticDescription: 'one warning code (E21 drain pump, F07 defrost) keeps coming back for 14–60 days', description: 'one warning code (E21 drain pump, F07 defrost) keeps coming back' },
  { persona: 'fridge-crowded', kinds: ['fridge'], share: 0.08, startDaysBeforeEpoch: null, needsSuccessor: true, realistic: { onset: 'start' }, realisticDescription: "70–120 door openings a day and a packed cabinet: compressor duty well above its model's", description: 'door openings about 3× and compressor duty about 1.4× the cohort' },
  { persona: 'fridge-temp-excursion', kinds: ['fridge'], share: 0.05, startDaysBeforeEpoch: [8, 14], realistic: { onset: 'year', lastsDays: [10, 45] }, realisticDescription: 'failing cooling for 10–45 days: the compartment climbs to 9.5–13 °C for hours on most days', description: 'failing cooling: the compartment climbs to 9–13 °C for hours on most days' },
  { persona: 'car-low-mileage', kinds: ['car'], share: 0.1, startDaysBeforeEpoch: null, realistic: { onset: 'start' }, realisticDescription: '100–300 km a month (up to 3,600 km a year), on two or three fixed days a week', description: '120–240 km a month, on two or three fixed days a week' },
  { persona: 'car-dtc', kinds: ['car'], share: 0.05, startDaysBeforeEpoch: [7, 20], realistic: { onset: 'year', lastsDays: [10, 40] }, realisticDescription: 'a misfire or isolation DTC (P0301, P0AA6) on about a third of driving days for 10–40 days', description: 'a misfire DTC (P0301, warning) every few days' },
  { persona: 'car-battery-decline', kinds: ['car'], share: 0.05, startDaysBeforeEpoch: [30, 60], needsBattery: true, realistic: { onset: 'year' }, realisticDescription: 'traction battery health falls 2–4 points a month from its onset', description: 'traction battery health falls about 3 points a month' },
  { persona: 'usage-collapse', kinds: ['washer', 'fridge', 'car'], share: 0.04, startDaysBeforeEpoch: [24, 32], realistic: { onset: 'year' }, realisticDescription: 'use falls to 10–25% of its own baseline and stays regular at that level (a wash at least every ten days, an outing every four to six)', description: 'use drops to 10–20% of its own baseline from the start, and stays regular at that level (no silence)' },
  { persona: 'silent-device', kinds: ['washer', 'fridge', 'car'], share: 0.03, startDaysBeforeEpoch: [22, 35], realistic: { onset: 'year' }, realisticDescription: 'stops reporting from its onset', description: 'stops reporting at the start' },
];

export function personaDef(p: Persona): PersonaDef | undefined {
  return PERSONA_DEFS.find((d) => d.persona === p);
}

/**
 * Firmware that misbehaves on a share of its readings, so the gateway's refusals and its
 * idempotent storage are exercised. Each is refused (or stored once) for a known reason.
 */
export const FAULTS = ['out-of-range', 'unknown-field', 'clock-skew', 'duplicates', 'resends'] as const;
export type Fault = (typeof FAULTS)[number];

/** Share of a faulty device's readings that the fault affects. */
export const FAULT_RATE = 0.05;
