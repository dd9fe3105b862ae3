import { z } from 'zod';
import type { FeatureSpec } from './types.ts';

/**
 * What "use" means per device kind, for the retention detectors: cycles for a washer, door
 * openings for a fridge, kilometres for a car; and what any telemetry reading is (silence).
 */
export const USAGE: Record<string, { usage: FeatureSpec; unit: string; readings: FeatureSpec; counted: boolean; reportsWhileAway: boolean }> = {
  washer: {
    usage: { name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
    unit: 'cycles',
    counted: true,
    reportsWhileAway: false,
    readings: { name: 'washer.cycles', measurement: 'washer_cycle', agg: 'count', field: 'load_kg' },
  },
  fridge: {
    usage: { name: 'fridge.door_openings', measurement: 'fridge_state', agg: 'sum', field: 'door_openings' },
    unit: 'door openings',
    counted: true,
    // A fridge keeps running (and reporting) while its household is away.
    reportsWhileAway: true,
    readings: { name: 'fridge.readings', measurement: 'fridge_state', agg: 'count', field: 'temp_c' },
  },
  car: {
    usage: { name: 'car.km', measurement: 'car_trip', agg: 'sum', field: 'distance_km' },
    unit: 'km',
    counted: false,
    reportsWhileAway: false,
    readings: { name: 'car.trips', measurement: 'car_trip', agg: 'count', field: 'distance_km' },
  },
};

/**
 * Days without a single reading from which a device of a kind is the silent-device rule's case
 * and no longer the usage-collapse rule's: the two hand over here, so that every quiet length is
 * looked at by exactly one of them (rules.ts checks that their catalogue entries agree).
 */
export const SILENT_DAYS: Record<string, number> = { washer: 14, fridge: 3, car: 14 };

/** The `silentDays` parameter both retention rules carry, per kind. */
export const silentDaysParam = z.object({
  washer: z.number().int().min(1).default(SILENT_DAYS.washer),
  fridge: z.number().int().min(1).default(SILENT_DAYS.fridge),
  car: z.number().int().min(1).default(SILENT_DAYS.car),
}).strict().prefault({});

/** Days at the end of a series without a reading (NaN or 0). */
export function quietTail(readings: number[]): number {
  let quiet = 0;
  for (let i = readings.length - 1; i >= 0 && !(readings[i] > 0); i--) quiet++;
  return quiet;
}
