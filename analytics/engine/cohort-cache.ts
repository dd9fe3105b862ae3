import { sha256 } from '../../core/hash.ts';
import { escString, escTag, FEATURE_LAYER, ident, literal, timeNs, type InfluxStore } from '../../core/influx/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { CohortStats } from '../detectors/index.ts';
import type { Rule } from '../rules.ts';
import type { CohortCache } from './evaluate.ts';

type Cohorts = Map<string, Map<string, CohortStats>>;

/**
 * The model cohorts of one step, kept in InfluxDB (measurement `model_cohorts`) for the other
 * partitions of the fleet: the first partition to get there computes them over the whole
 * fleet, the others read them, so every partition compares its devices with the same cohorts.
 * Keyed by the step and a digest of the rules (id, version, parameters) and the fleet's size.
 * They hold percentiles across a model's devices, no device or owner.
 */
export class InfluxCohortCache implements CohortCache {
  private readonly signature: string;

  constructor(private readonly store: InfluxStore, private readonly stepMs: number, rules: readonly Rule[], fleet: number) {
    const what = JSON.stringify({ rules: rules.map((r) => [r.id, r.version, r.windowDays, r.params]).sort(), fleet });
    this.signature = sha256(what).toString('hex').slice(0, 16);
  }

  async get(): Promise<Cohorts | undefined> {
    const [s] = await this.store.series(`SELECT "stats" FROM ${ident(FEATURE_LAYER.cohorts)} WHERE time = ${this.stepMs}ms AND "signature" = ${literal(this.signature)}`);
    const raw = s?.values[0]?.[1];
    if (typeof raw !== 'string') return undefined;
    const entries = JSON.parse(raw) as Array<[string, Array<[string, CohortStats]>]>;
    return new Map(entries.map(([key, byModel]) => [key, new Map(byModel)]));
  }

  async put(cohorts: Cohorts): Promise<void> {
    const json = JSON.stringify([...cohorts].map(([key, byModel]) => [key, [...byModel]]));
    const res = await this.store.write(`${FEATURE_LAYER.cohorts},signature=${escTag(this.signature)} stats=${escString(json)} ${timeNs(this.stepMs, 0)}`);
    if (!res.ok) throw new UsageGatewayError('GW_ERR_INFLUX_UNAVAILABLE', `InfluxDB did not store the model cohorts of the run: ${res.error}`);
  }
}
