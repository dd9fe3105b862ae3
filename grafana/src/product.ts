import { dashboard, filter, influx, math } from './kit.ts';
import { kindVar, modelVar } from './vars.ts';
import { loadShareHistogram, washers } from './washers.ts';

const f = filter(['kind', 'kind'], ['model', 'model']);
/** The load sensor's accuracy (kg): a wash counts as above capacity beyond it, as washer-overloaded counts it. */
const SENSOR_MARGIN_KG = 0.5;
/** A wash clearly above its model's drum capacity, whichever washer model it is. */
const overloaded = `(${washers.map((w) => `("model" = '${w.id}' AND "load_kg" > ${w.capacity + SENSOR_MARGIN_KG})`).join(' OR ')})`;
const warnings = `"severity" <> 'info'`;

/** Per device and day, then averaged per model and bucket: the model's cohort, never a device. */
const cohort = (agg: string, from: string, bucket: string) =>
  `SELECT mean("d") FROM (SELECT ${agg} AS "d" FROM ${from} WHERE $timeFilter AND ${f} GROUP BY time(${bucket}), "device_id", "model") WHERE $timeFilter GROUP BY time(${bucket}), "model"`;

// Per device-day counts that the two "above / within capacity" panels join and sum in the
// browser (InfluxQL cannot join the cycles of a day with the error reports of that day): the
// panels then show model totals only.
const dayCounts = influx([
  [`SELECT count("load_kg") AS "cycles" FROM "washer_cycle" WHERE $timeFilter AND ${f} GROUP BY time(1d), "device_id", "model" fill(none)`, 'cycles'],
  [`SELECT count("load_kg") AS "overloaded" FROM "washer_cycle" WHERE $timeFilter AND ${f} AND ${overloaded} GROUP BY time(1d), "device_id", "model" fill(none)`, 'overloaded'],
  [`SELECT count("code") AS "warnings" FROM "device_event" WHERE $timeFilter AND "kind" = 'washer' AND ${warnings} AND ${f} GROUP BY time(1d), "device_id", "model" fill(none)`, 'warnings'],
], 'table');
const perModelRate = (title: string, keep: 'isNull' | 'isNotNull', description: string) => ({
  type: 'table' as const, title, w: 6, h: 8, description,
  targets: dayCounts,
  transformations: [
    { id: 'merge', options: {} },
    // Days with a wash above capacity have an `overloaded` count; the others have none.
    { id: 'filterByValue', options: { type: 'include', match: 'all', filters: [{ fieldName: 'overloaded', config: { id: keep, options: {} } }] } },
    { id: 'groupBy', options: { fields: { model: { aggregations: [], operation: 'groupby' }, cycles: { aggregations: ['sum'], operation: 'aggregate' }, warnings: { aggregations: ['sum'], operation: 'aggregate' } } } },
    { id: 'calculateField', options: { mode: 'binary', alias: 'warnings per 100 cycles', binary: { left: 'warnings (sum)', operator: '/', right: 'cycles (sum)' }, replaceFields: false } },
    { id: 'calculateField', options: { mode: 'binary', alias: 'per 100 cycles', binary: { left: 'warnings per 100 cycles', operator: '*', right: '100' }, replaceFields: false } },
    { id: 'organize', options: { excludeByName: { 'warnings per 100 cycles': true }, renameByName: { 'cycles (sum)': 'cycles', 'warnings (sum)': 'warnings' } } },
  ],
  options: { sortBy: [{ displayName: 'per 100 cycles', desc: true }] },
  fieldConfig: { decimals: 2 },
});

/**
 * Product design: how each model is used and where it fails, for product and after-sales
 * teams. Model-level aggregates only: no device variable, no panel that lists devices.
 */
export const product = dashboard({
  uid: 'ug-product',
  title: 'Usage Gateway · Product design',
  description: 'Per model: washer load against capacity, warnings per 100 cycles above and within capacity and per firmware version, cycles per week; fridge duty by month; car distance per month; EV battery health. Model aggregates only.',
  tags: ['usage-gateway'],
  time: { from: 'now-90d', to: 'now' },
  variables: [kindVar, modelVar],
  layout: [
    'Washing machines: load and failures',
    loadShareHistogram('Load against capacity, by model (1 = the rated load)', 'Every wash of the range, its load_kg over its model\'s capacity_kg (the model catalogue). Above 1 the drum was overloaded: a model whose owners keep going there is too small for them.', f),
    perModelRate('Warnings per 100 cycles, days above capacity', 'isNotNull',
      `Warnings and critical faults (not info notes) per 100 washes, over the days on which a machine washed at least once more than ${SENSOR_MARGIN_KG} kg (the load sensor's accuracy) above its drum capacity, summed per model.`),
    perModelRate('Warnings per 100 cycles, days within capacity', 'isNull',
      'The same over the days on which every wash was within capacity: set against the panel to the left, the overloads\' share of the failures.'),
    {
      type: 'table', title: 'Washer warnings per 100 cycles by model and firmware version', w: 12,
      description: 'Warnings and critical faults per 100 washes, per model and the firmware version the machines reported with their readings: a version that faults more than the others of its model stands out.',
      targets: [
        ...influx([
          [`SELECT count("code") AS "warnings" FROM "device_event" WHERE $timeFilter AND "kind" = 'washer' AND ${warnings} AND ${f} GROUP BY "model", "firmware"`, 'warnings'],
          [`SELECT count("load_kg") AS "cycles" FROM "washer_cycle" WHERE $timeFilter AND ${f} GROUP BY "model", "firmware"`, 'cycles'],
        ]).map((t) => ({ ...t, hide: true })),
        // One series per model and version on each side: the expression pairs them by those labels.
        math('C', '$A / $B * 100'),
      ],
      transformations: [
        { id: 'labelsToFields', options: { mode: 'columns' } },
        { id: 'merge', options: {} },
        { id: 'organize', options: { excludeByName: { Time: true }, renameByName: { C: 'warnings per 100 cycles' } } },
      ],
      options: { sortBy: [{ displayName: 'warnings per 100 cycles', desc: true }] },
      fieldConfig: { decimals: 2 },
    },
    {
      type: 'timeseries', title: 'Cycles per washer per week, by model', w: 12, interval: '7d',
      description: 'Washes per machine per week, averaged over the machines of each model.',
      targets: influx([[cohort('count("load_kg")', '"washer_cycle"', '7d'), '$tag_model']]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60 } },
    },
    'Fridges and cars',
    {
      type: 'timeseries', title: 'Fridge compressor duty by month, by model (roll-up, last year)', w: 8, timeFrom: '365d', interval: '30d', unit: 'percentunit',
      description: 'Mean compressor duty per 30 days: the season and the kitchen move it; a model that works harder than its peers all year is undersized or badly insulated.',
      targets: influx([[`SELECT mean("compressor_duty_mean") FROM "rollup"."fridge_state_1d" WHERE $timeFilter AND ${f} GROUP BY time(30d), "model"`, '$tag_model']]),
    },
    {
      type: 'timeseries', title: 'Distance per car per month, by model (roll-up, last year)', w: 8, timeFrom: '365d', interval: '30d', unit: 'lengthkm',
      description: 'Kilometres per car per 30 days, averaged over the cars of each model.',
      targets: influx([[cohort('sum("distance_km_sum")', '"rollup"."car_trip_1d"', '30d'), '$tag_model']]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60 } },
    },
    {
      type: 'timeseries', title: 'Traction battery state of health, by model (roll-up, last year)', w: 8, timeFrom: '365d', interval: '7d', unit: 'percent',
      description: 'Mean battery_soh_pct per week of the electric and hybrid models: how their batteries age in the field (the cold lowers the reading for a while).',
      targets: influx([[`SELECT mean("battery_soh_pct_mean") FROM "rollup"."car_trip_1d" WHERE $timeFilter AND ${f} GROUP BY time(7d), "model" fill(none)`, '$tag_model']]),
    },
  ],
});
