import { z } from 'zod';
import type { KindDef } from '../reading-def.ts';

/** Cars: one `trip` reading at the end of each trip. */
export const car: KindDef = {
  kind: 'car',
  readings: [
    {
      type: 'trip',
      channel: 'telemetry',
      measurement: 'car_trip',
      description: 'End of each trip.',
      fields: z.object({
        distance_km: z.number().min(0).max(5_000),
        duration_s: z.number().int().min(0).max(172_800),
        avg_speed_kmh: z.number().min(0).max(300),
        max_speed_kmh: z.number().min(0).max(400),
        harsh_brakes: z.number().int().min(0).max(10_000),
        harsh_accels: z.number().int().min(0).max(10_000),
        night_km: z.number().min(0).max(5_000),
        odometer_km: z.number().min(0).max(5_000_000),
        energy_kwh: z.number().min(0).max(1_000).optional(),
        fuel_l: z.number().min(0).max(1_000).optional(),
        battery_soh_pct: z.number().min(0).max(100).optional(),
      }),
    },
  ],
  modelFields: z.object({
    powertrain: z.enum(['ice', 'hybrid', 'ev']),
    battery_kwh: z.number().positive().max(500).optional(),
    tank_l: z.number().positive().max(500).optional(),
  }),
};
