import { carHealth } from './car-health.ts';
import { carLowMileage } from './car-low-mileage.ts';
import { deviceSilent } from './device-silent.ts';
import { fridgeCrowded } from './fridge-crowded.ts';
import { fridgeTempExcursion } from './fridge-temp-excursion.ts';
import { recurringError } from './recurring-error.ts';
import type { Detector } from './types.ts';
import { usageCollapse } from './usage-collapse.ts';
import { washerBearingWear } from './washer-bearing-wear.ts';
import { washerHeavyUse } from './washer-heavy-use.ts';
import { washerOverloaded } from './washer-overloaded.ts';

/** Every detector a rule may name. Adding one: a module here and a rule in config/rules.yaml. */
export const DETECTORS: ReadonlyMap<string, Detector<any>> = new Map(
  [washerOverloaded, washerHeavyUse, washerBearingWear, recurringError, fridgeCrowded, fridgeTempExcursion, carLowMileage, carHealth, usageCollapse, deviceSilent].map((d) => [d.id, d as Detector<any>]),
);

export type { Detector, DetectContext, Detection, DeviceInfo, DeviceSeries, DeviceEvent, FeatureSpec, FeatureFilter, Aggregate, CohortStats, HouseholdMember } from './types.ts';
export { DAY_MS } from './types.ts';
