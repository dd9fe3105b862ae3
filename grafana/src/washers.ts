import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { influx, type PanelSpec } from './kit.ts';

/** The washer models of the catalogue and their rated loads, for the boards' per-model queries. */
export const washers = loadCatalogue(DEFAULT_MODELS_PATH).ofKind('washer').map((m) => ({ id: m.id, capacity: Number(m.capacity_kg) }));

/** Every wash's load over its model's capacity (1 = the rated load), one series per washer model. */
export function loadShareHistogram(title: string, description: string, where: string): PanelSpec {
  return {
    type: 'histogram', title, w: 12, description,
    targets: influx(washers.map((w) => [`SELECT "load_kg" / ${w.capacity} AS "load_share" FROM "washer_cycle" WHERE $timeFilter AND "model" = '${w.id}' AND ${where}`, w.id])),
    options: { bucketSize: 0.1, combine: false },
  };
}
