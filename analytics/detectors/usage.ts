import type { FeatureSpec } from './types.ts';

/**
 * What "use" means per device kind, for the retention detectors: cycles for a washer, door
 * openings for a fridge, kilometres for a car; and what any telemetry reading is (silence).
 */
export const USAGE: Record<string, { usage: FeatureSpec; unit: string; readings: FeatureSpec }> = {
  washer: {
    usage: { name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
    unit: 'cycles',
    readings: { name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
  },
  fridge: {
    usage: { name: 'fridge.door_openings', measurement: 'fridge_state', agg: 'sum', field: 'door_openings' },
    unit: 'door openings',
    readings: { name: 'fridge.readings', measurement: 'fridge_state', agg: 'count', field: 'temp_c' },
  },
  car: {
    usage: { name: 'car.km', measurement: 'car_trip', agg: 'sum', field: 'distance_km' },
    unit: 'km',
    readings: { name: 'car.trips', measurement: 'car_trip', agg: 'count', field: 'distance_km' },
  },
};

/** Days without a reading after which a device of a kind counts as silent. */
export const SILENT_DAYS: Record<string, number> = { washer: 14, fridge: 3, car: 14 };

/** Days at the end of a series without a reading (NaN or 0). */
export function quietTail(readings: number[]): number {
  let quiet = 0;
  for (let i = readings.length - 1; i >= 0 && !(readings[i] > 0); i--) quiet++;
  return quiet;
}
