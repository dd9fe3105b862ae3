import { z } from 'zod';
import type { ReadingDef } from '../reading-def.ts';

export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** Readings on `devices/{id}/events` that any kind may send. */
export const commonEvents: readonly ReadingDef[] = [
  {
    type: 'error',
    channel: 'events',
    measurement: 'device_event',
    description: 'A discrete error, fault or diagnostic trouble code.',
    tags: ['severity'],
    fields: z.object({
      code: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'expected an error code such as E21 or P0301'),
      severity: z.enum(SEVERITIES),
      detail: z.string().max(500).optional(),
    }),
  },
];
