import { UsageGatewayError } from '../protocol/errors.ts';

/**
 * How a fleet behaves. `realistic` (the default): households that go away together, seasons,
 * noisy and occasionally stuck or missing sensors, near-threshold ordinary households,
 * overlapping personas, replacements and resales. `clean`: the fleets of the first simulator,
 * each persona far past what it plants and ordinary devices plainly ordinary.
 */
export const PROFILES = ['realistic', 'clean'] as const;
export type Profile = (typeof PROFILES)[number];
export const DEFAULT_PROFILE: Profile = 'realistic';

/** Sensor noise of the realistic profile: the figures a real fleet's sensors give, per figure. */
export interface NoiseSettings {
  /** Load sensor: standard deviation of the reported load, kg (torque-based estimates are good to about ±0.5 kg). */
  load: number;
  /** Spin vibration: cycle-to-cycle variation on a healthy machine, as a coefficient of variation (each machine 0.77–1.23 times it). */
  vibration: number;
  /** Fridge compartment temperature: standard deviation of a reading, °C. */
  temp: number;
  /** Traction battery state of health: standard deviation of a reading, percentage points. */
  soh: number;
  /** Stuck sensors: episodes per device and year (a figure repeats one value for hours to days). */
  stuck: number;
  /** Missing readings: connectivity outages per device and year (1 to 36 hours each; those readings are lost). */
  missing: number;
}

export const DEFAULT_NOISE: Readonly<NoiseSettings> = Object.freeze({ load: 0.5, vibration: 0.33, temp: 0.3, soh: 0.4, stuck: 1, missing: 3 });

const LIMITS: Record<keyof NoiseSettings, number> = { load: 5, vibration: 2, temp: 5, soh: 10, stuck: 50, missing: 100 };

export function parseProfile(text: string): Profile {
  if (!(PROFILES as readonly string[]).includes(text)) throw new UsageGatewayError('GW_ERR_USAGE', `--profile must be one of ${PROFILES.join(', ')}, got "${text}"`);
  return text as Profile;
}

/** `load=0.5,vibration=0.3,temp=0.3,soh=0.4,stuck=1,missing=3`: any subset; the rest keep their defaults. */
export function parseNoise(text: string): NoiseSettings {
  const out: NoiseSettings = { ...DEFAULT_NOISE };
  const bad = (why: string) => new UsageGatewayError('GW_ERR_USAGE', `--noise "${text}": ${why}; expected e.g. load=0.5,vibration=0.33,temp=0.3,soh=0.4,stuck=1,missing=3`);
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m) throw bad(`cannot read "${part}"`);
    const key = m[1] as keyof NoiseSettings;
    if (!(key in LIMITS)) throw bad(`unknown figure "${m[1]}" (known: ${Object.keys(LIMITS).join(', ')})`);
    const v = Number(m[2]);
    if (v > LIMITS[key]) throw bad(`${key} must be at most ${LIMITS[key]}`);
    out[key] = v;
  }
  return out;
}
