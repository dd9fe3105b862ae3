import { z } from 'zod';
import type { KindDef } from '../reading-def.ts';

/** Fridges: a `state` reading every few minutes. */
export const fridge: KindDef = {
  kind: 'fridge',
  readings: [
    {
      type: 'state',
      channel: 'telemetry',
      measurement: 'fridge_state',
      description: 'Periodic state, every few minutes.',
      fields: z.object({
        temp_c: z.number().min(-30).max(60),
        freezer_temp_c: z.number().min(-60).max(40),
        door_openings: z.number().int().min(0).max(10_000),
        door_open_s: z.number().min(0).max(86_400),
        compressor_duty: z.number().min(0).max(1),
        energy_kwh: z.number().min(0).max(50),
      }),
    },
  ],
  modelFields: z.object({ volume_l: z.number().positive().max(2_000) }),
};
