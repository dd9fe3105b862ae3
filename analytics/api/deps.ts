import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.ts';
import type { InfluxStore } from '../../core/influx/index.ts';
import type { Registry } from '../../core/registry/index.ts';
import type { Catalogue } from '../../protocol/models.ts';
import type { AnalyticsMetrics } from '../metrics.ts';
import type { Rule } from '../rules.ts';
import type { StateStore } from '../store/state.ts';

/**
 * What the API reads and changes, handed in by the service: the API knows these parts, not
 * the service that owns them (so the two do not import each other).
 */
export interface ApiDeps {
  readonly log: Logger;
  readonly config: Readonly<ResolvedConfig>;
  readonly state: StateStore;
  readonly metrics: AnalyticsMetrics;
  readonly registry: Registry;
  /** Read for the owner report (how much is stored per device). */
  readonly influx: InfluxStore;
  readonly catalogue: Catalogue;
  readonly rules: readonly Rule[];
}
