import type { z } from 'zod';
import type { Model } from '../../protocol/models.ts';
import type { Evidence, Offer } from '../../protocol/trigger.ts';

export const DAY_MS = 86_400_000;

/** A device as the engine sees it: from the registry, or from a simulator manifest in a backtest. */
export interface DeviceInfo {
  id: string;
  kind: string;
  model: string;
  owner: string;
  /** ISO time the current owner took the device over. */
  ownerSince?: string;
  /** ISO time the device was registered; an ownerSince after it means the device changed hands. */
  registeredAt?: string;
  consent?: readonly string[];
}

/** The aggregates a daily feature may be: over the readings of one device and one UTC day. */
export type Aggregate = 'count' | 'sum' | 'mean' | 'min' | 'max';

/** A condition on a reading's field, e.g. `load_kg > 7.5`. */
export interface FeatureFilter {
  field: string;
  op: '>' | '>=' | '<' | '<=';
  value: number;
}

/**
 * One daily aggregate a detector needs, per device and UTC day: `agg(field)` over the readings
 * of `measurement` (InfluxDB computes it as `SELECT agg("field") FROM measurement WHERE …
 * GROUP BY time(1d), device_id`; a backtest on generated readings computes the same in memory).
 * A day without a reading (or none that passes the filter) has no value (NaN).
 */
export interface FeatureSpec {
  /** Unique per kind within a run, e.g. `washer.overloaded`. */
  name: string;
  measurement: string;
  agg: Aggregate;
  field: string;
  /** A condition that depends on the device's model (e.g. load above its capacity); undefined: every reading. */
  filter?: (model: Model | undefined) => FeatureFilter | undefined;
}

/** A discrete event (device_event) of the window. */
export interface DeviceEvent {
  timeMs: number;
  code: string;
  severity: string;
}

/** Daily features of one device over the range the engine fetched. */
export interface DeviceSeries {
  /** Epoch ms of day 0 (UTC midnight). */
  startMs: number;
  days: number;
  /** feature name → value per day; NaN where the device sent nothing that day. */
  daily: Map<string, Float64Array>;
  events: DeviceEvent[];
}

/**
 * Percentiles across a model cohort of each device's value of one feature over the whole
 * window (the feature's aggregate without the daily grouping: a total for count and sum).
 */
export interface CohortStats {
  model: string;
  devices: number;
  percentiles: Record<string, number>;
}

/** What a detector is given for one device and one evaluation window. */
export interface DetectContext<P> {
  device: DeviceInfo;
  model: Model | undefined;
  /** Successor of the device's model in the catalogue, when it has one. */
  successor: Model | undefined;
  series: DeviceSeries;
  /** Day indexes of the window in `series`: [from, to). */
  from: number;
  to: number;
  params: P;
  /**
   * Cohort of the device's model over the same window, for fleet-relative detectors: feature
   * name → percentiles of each device's total (count, sum) or mean over the window, and
   * `slope(name)` → percentiles of each device's least-squares slope per day over it.
   */
  cohort: Map<string, CohortStats>;
  /**
   * The owner's other devices, with their daily series over the same days (for detectors that
   * declare `householdFeatures`): an absence shows on all of them at once.
   */
  household: HouseholdMember[];
}

/** Another device of the same owner, as a detector sees it. */
export interface HouseholdMember {
  device: DeviceInfo;
  series: DeviceSeries;
}

/** A detection: the figures and thresholds of the evidence, and what the offer needs. */
export interface Detection {
  summary: string;
  figures: Record<string, number>;
  thresholds: Record<string, number>;
  /** One value per day of the window (NaN: no data), for the evidence chart. */
  series?: { label: string; unit?: string; values: number[]; threshold?: number };
  /** How sure the rule was: the margin or confidence bound the figures cleared, in plain words. */
  confidence?: Evidence['confidence'];
  cohort?: Evidence['cohort'];
  /** Filled into the rule's offer (e.g. the successor model as `target`). */
  offer?: Partial<Offer>;
}

export interface Detector<P = unknown> {
  id: string;
  /** One line for the docs. */
  description: string;
  /** Device kinds the detector understands. */
  kinds: readonly string[];
  params: z.ZodType<P>;
  /** Days of data the detector reads before the end of the window, given its parameters. */
  windowDays(params: P): number;
  features(params: P, kind: string): FeatureSpec[];
  /** Features whose model cohort the detector compares with: `name` (total or mean) or `slope(name)`. */
  cohortFeatures?(params: P, kind: string): string[];
  /** Features the detector reads of the owner's other devices, by their kind (see `household`). */
  householdFeatures?(kind: string): FeatureSpec[];
  /**
   * What the rule needs to see a pattern: `after`, days it must have been under way; `before`,
   * days of history before its onset it compares with (a baseline). A backtest does not count
   * a pattern it could not have seen as missed. Default: the window after, nothing before.
   */
  detection?(params: P): { after: number; before: number };
  /** Needs the raw error events of the window. */
  events?: boolean;
  detect(ctx: DetectContext<P>): Detection | null;
}
