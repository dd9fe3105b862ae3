import { dashboard, filter, influx, variable } from './kit.ts';
import { loadShareHistogram, washers } from './washers.ts';

const m = filter(['model', 'model']);
const modelVar = variable({ name: 'model', label: 'Model', query: 'SHOW TAG VALUES FROM "washer_cycle", "fridge_state", "car_trip" WITH KEY = "model"' });
const bars = { custom: { drawStyle: 'bars', fillOpacity: 60 } };

/** Per-day figures per device, averaged over the devices of each model: the model's cohort. */
const cohortPerDay = (agg: string, measurement: string, rp = '') =>
  `SELECT mean("d") FROM (SELECT ${agg} AS "d" FROM ${rp}"${measurement}" WHERE $timeFilter AND ${m} GROUP BY time(1d), "device_id", "model") WHERE $timeFilter GROUP BY time(1d), "model"`;

/**
 * Usage patterns: how products are used, by model. Panels marked "roll-up" read the daily
 * roll-ups over the last year whatever the board's range, so they stay fast on long ranges.
 */
export const usage = dashboard({
  uid: 'ug-usage',
  title: 'Usage Gateway · Usage patterns',
  description: 'Washer load vs capacity, cycles by weekday and hour, programs; fridge door openings and compressor duty vs cohort; car mileage and night driving.',
  tags: ['usage-gateway'],
  time: { from: 'now-30d', to: 'now' },
  variables: [modelVar],
  layout: [
    'Washing machines',
    loadShareHistogram('Washer load as a share of rated capacity (1 = full)', 'Every cycle of the range; above 1 the drum was overloaded. Capacities come from the model catalogue.', m),
    {
      type: 'table', title: 'Load vs capacity by model', w: 12,
      targets: influx(washers.map((w) => [
        `SELECT count("load_kg") AS "cycles", mean("load_kg") / ${w.capacity} * 100 AS "mean load, % of capacity", percentile("load_kg", 90) / ${w.capacity} * 100 AS "p90 load, % of capacity", max("load_kg") AS "max load, kg" FROM "washer_cycle" WHERE $timeFilter AND "model" = '${w.id}' AND ${m} GROUP BY "model"`,
        w.id,
      ]), 'table'),
      transformations: [{ id: 'merge', options: {} }, { id: 'organize', options: { excludeByName: { Time: true } } }],
    },
    {
      type: 'table', title: 'Cycles by weekday and hour', w: 16, h: 9,
      description: 'Cycles counted per hour of the week over the range (time zone of the browser).',
      targets: influx([[`SELECT count("load_kg") AS "cycles" FROM "washer_cycle" WHERE $timeFilter AND ${m} GROUP BY time(1h) fill(none)`, 'cycles']], 'table'),
      transformations: [
        { id: 'formatTime', options: { timeField: 'Time', outputFormat: 'E HH', useTimezone: true } },
        { id: 'groupBy', options: { fields: { Time: { aggregations: [], operation: 'groupby' }, cycles: { aggregations: ['sum'], operation: 'aggregate' } } } },
        { id: 'extractFields', options: { source: 'Time', format: 'regexp', regExp: '/(?<weekday>\\w+) (?<hour>\\d+)/', replace: false } },
        { id: 'groupingToMatrix', options: { columnField: 'hour', rowField: 'weekday', valueField: 'cycles (sum)', emptyValue: 'zero' } },
      ],
      fieldConfig: { custom: { cellOptions: { type: 'color-background' } }, color: { mode: 'continuous-GrYlRd' } },
    },
    {
      type: 'piechart', title: 'Programs mix', w: 8, h: 9,
      targets: influx([[`SELECT count("load_kg") FROM "washer_cycle" WHERE $timeFilter AND ${m} GROUP BY "program"`, '$tag_program']]),
      options: { reduceOptions: { calcs: ['sum'] }, pieType: 'donut', legend: { displayMode: 'table', placement: 'right', values: ['percent'] } },
    },
    {
      type: 'timeseries', title: 'Cycles per washer per day, by model (roll-up, last year)', w: 24, timeFrom: '365d', interval: '1d',
      targets: influx([[cohortPerDay('sum("n")', 'washer_cycle_1d', '"rollup".'), '$tag_model']]),
    },
    'Fridges',
    {
      type: 'timeseries', title: 'Door openings per fridge per day, by model (cohort mean)', interval: '1d',
      targets: influx([[cohortPerDay('sum("door_openings")', 'fridge_state'), '$tag_model']]),
    },
    {
      type: 'timeseries', title: 'Compressor duty by model', unit: 'percentunit', interval: '1h',
      targets: influx([[`SELECT mean("compressor_duty") FROM "fridge_state" WHERE $timeFilter AND ${m} GROUP BY time($__interval), "model"`, '$tag_model']]),
    },
    {
      type: 'table', title: 'Fridges by door openings per day (cohort outliers first)',
      description: 'Compare each fridge with its model\'s cohort mean in the panel to the left.',
      targets: influx([[
        `SELECT mean("d") AS "door openings / day", mean("duty") AS "compressor duty" FROM (SELECT sum("door_openings") AS "d", mean("compressor_duty") AS "duty" FROM "fridge_state" WHERE $timeFilter AND ${m} GROUP BY time(1d), "device_id", "model") GROUP BY "device_id", "model"`,
        'fridges',
      ]], 'table'),
      options: { sortBy: [{ displayName: 'door openings / day', desc: true }] },
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    },
    {
      type: 'timeseries', title: 'Door openings per fridge per day, by model (roll-up, last year)', timeFrom: '365d', interval: '1d',
      targets: influx([[cohortPerDay('sum("door_openings_sum")', 'fridge_state_1d', '"rollup".'), '$tag_model']]),
    },
    'Cars',
    {
      type: 'histogram', title: 'Monthly mileage per car (roll-up, last year)', timeFrom: '365d', unit: 'lengthkm',
      description: 'Distance per car per 30 days; the low end are pay-as-you-drive candidates.',
      targets: influx([[`SELECT sum("distance_km_sum") AS "km" FROM "rollup"."car_trip_1d" WHERE $timeFilter AND ${m} GROUP BY time(30d), "device_id" fill(none)`, '$tag_device_id']]),
      options: { combine: true },
    },
    {
      type: 'bargauge', title: 'Night driving share by model', unit: 'percent',
      targets: influx([[`SELECT sum("night_km") / sum("distance_km") * 100 FROM "car_trip" WHERE $timeFilter AND ${m} GROUP BY "model"`, '$tag_model']]),
      options: { orientation: 'horizontal', reduceOptions: { calcs: ['lastNotNull'] } },
      fieldConfig: { min: 0, max: 100 },
    },
    {
      type: 'timeseries', title: 'Distance per car per day, by model (cohort mean)', unit: 'lengthkm', interval: '1d',
      targets: influx([[cohortPerDay('sum("distance_km")', 'car_trip'), '$tag_model']]),
      fieldConfig: bars,
    },
    {
      type: 'table', title: 'Cars by distance in the range (lowest first)', unit: 'lengthkm',
      targets: influx([[`SELECT sum("distance_km") AS "km", sum("night_km") AS "night km", count("distance_km") AS "trips" FROM "car_trip" WHERE $timeFilter AND ${m} GROUP BY "device_id", "model"`, 'cars']], 'table'),
      options: { sortBy: [{ displayName: 'km', desc: false }] },
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    },
  ],
});
