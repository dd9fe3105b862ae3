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

/**
 * One daily aggregate a detector needs, computed by InfluxDB per device and UTC day:
 * `SELECT <select> FROM <measurement> WHERE … GROUP BY time(1d), device_id`.
 */
export interface FeatureSpec {
  /** Unique per kind within a run, e.g. `washer.overloaded`. */
  name: string;
  measurement: string;
  /** One InfluxQL aggregate, e.g. `count("load_kg")`. */
  select: string;
  /** An extra condition that depends on the device's model (e.g. load above its capacity). */
  where?: (model: Model | undefined) => string | undefined;
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
  /** feature name → cohort of the device's model, for fleet-relative detectors. */
  cohort: Map<string, CohortStats>;
}

/** A detection: the figures and thresholds of the evidence, and what the offer needs. */
export interface Detection {
  summary: string;
  figures: Record<string, number>;
  thresholds: Record<string, number>;
  /** One value per day of the window (NaN: no data), for the evidence chart. */
  series?: { label: string; unit?: string; values: number[]; threshold?: number };
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
  /** Features whose model cohort the detector compares with. */
  cohortFeatures?(params: P, kind: string): string[];
  /** Needs the raw error events of the window. */
  events?: boolean;
  detect(ctx: DetectContext<P>): Detection | null;
}
