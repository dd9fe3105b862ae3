import { escTag, timeNs } from './line-protocol.ts';

/**
 * Where the daily feature layer lives in InfluxDB. The analytics job computes it (per device and
 * UTC day, the aggregates its rules read); the gateway only marks the days that readings arrive
 * late for, so that the job recomputes them.
 */
export const FEATURE_LAYER = {
  /** Per device and UTC day: one field per feature (`featureKey`), `_at` and `_events`. Tags device_id, kind. */
  daily: 'daily_features',
  /** Per UTC day built: `keys` (digest of the feature set it holds), `devices`, `builtAt`. No owner data. */
  days: 'feature_days',
  /** Per device and UTC day that a reading arrived for after the day had ended: `at` (arrival, epoch ms). */
  late: 'feature_late',
  /** Model cohorts of one run's step, shared by the partitions of a fleet: `stats` (JSON). No owner data. */
  cohorts: 'model_cohorts',
} as const;

/**
 * A reading counts as late when it arrives more than this after its UTC day ended: one that
 * arrives sooner (a device that uploads every hour) is in InfluxDB before the day is built,
 * since a day is built for good only once this time and the build margin have passed.
 */
export const LATE_AFTER_MS = 3_600_000;

/** Whether a reading of `dayMs` received at `receivedAtMs` is late for the feature layer. */
export function isLate(dayMs: number, receivedAtMs: number): boolean {
  return receivedAtMs >= dayMs + 86_400_000 + LATE_AFTER_MS;
}

/**
 * The marker of late readings of a UTC day (`dayMs`; see `isLate`): one point per
 * device and day (a later marker of the same day overwrites it), written in the same batch as
 * the readings, so that whoever sees the marker sees the readings too.
 */
export function lateMarkerLine(deviceId: string, kind: string, dayMs: number, receivedAtMs: number): string {
  return `${FEATURE_LAYER.late},device_id=${escTag(deviceId)},kind=${escTag(kind)} at=${Math.trunc(receivedAtMs)}i ${timeNs(dayMs, 0)}`;
}
