import { z } from 'zod';
import type { KindDef } from '../reading-def.ts';

export const WASHER_PROGRAMS = ['cotton', 'synthetics', 'wool', 'quick', 'eco', 'intensive', 'delicates'] as const;

/** Washing machines: one `cycle` reading at the end of each wash. */
export const washer: KindDef = {
  kind: 'washer',
  readings: [
    {
      type: 'cycle',
      channel: 'telemetry',
      measurement: 'washer_cycle',
      description: 'End of each wash cycle.',
      tags: ['program'],
      fields: z.object({
        program: z.enum(WASHER_PROGRAMS),
        // Loads above the model's capacity are meaningful (overloading), so the bound is wide.
        load_kg: z.number().min(0).max(40),
        duration_s: z.number().int().min(1).max(36_000),
        water_l: z.number().min(0).max(500),
        energy_kwh: z.number().min(0).max(20),
        temp_c: z.number().min(0).max(100),
        spin_rpm: z.number().int().min(0).max(2_000),
        vibration_g: z.number().min(0).max(20).optional(),
        detergent_ml: z.number().min(0).max(1_000).optional(),
      }),
    },
  ],
  modelFields: z.object({ capacity_kg: z.number().positive().max(40) }),
};
