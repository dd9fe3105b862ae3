import { dashboard, influx, variable } from './kit.ts';
import { deviceVar, kindVar, modelVar } from './vars.ts';

const dev = `"device_id" = '$device'`;
/** The chosen device's model, for the cohort lines (hidden helper variable). */
const deviceModelVar = variable({
  name: 'device_model', label: 'Model of the device', multi: false, hide: true,
  query: `SHOW TAG VALUES FROM "washer_cycle", "fridge_state", "car_trip" WITH KEY = "model" WHERE ${dev}`,
});
/** Mean per device per day over the other devices of the same model. */
const cohort = (agg: string, measurement: string) =>
  `SELECT mean("d") FROM (SELECT ${agg} AS "d" FROM "${measurement}" WHERE $timeFilter AND "model" = '$device_model' GROUP BY time(1d), "device_id") WHERE $timeFilter GROUP BY time(1d)`;
const perDay = (agg: string, measurement: string) => `SELECT ${agg} FROM "${measurement}" WHERE $timeFilter AND ${dev} GROUP BY time(1d) fill(0)`;

/**
 * One device's history, with its error events and triggers as annotations. Panels of the
 * other kinds stay empty for a given device.
 */
export const device = dashboard({
  uid: 'ug-device',
  title: 'Usage Gateway · Device',
  description: "One device's readings, events and triggers, against its model's cohort.",
  tags: ['usage-gateway'],
  time: { from: 'now-30d', to: 'now' },
  variables: [kindVar, modelVar, deviceVar, deviceModelVar],
  annotations: [
    { name: 'Errors', color: 'red', query: `SELECT "code", "severity" FROM "device_event" WHERE ${dev} AND $timeFilter`, textColumn: 'code', tagsColumn: 'severity' },
    { name: 'Triggers', color: 'purple', query: `SELECT "summary", "rule_id", "category" FROM "trigger" WHERE ${dev} AND $timeFilter`, textColumn: 'summary', tagsColumn: 'rule_id,category' },
  ],
  layout: [
    {
      type: 'table', title: 'Latest reading', w: 24, h: 4,
      targets: influx([`SELECT * FROM "washer_cycle", "fridge_state", "car_trip" WHERE ${dev} AND $timeFilter ORDER BY time DESC LIMIT 1`], 'table'),
    },
    'Washing machine',
    {
      type: 'timeseries', title: 'Load per cycle and drum vibration',
      targets: influx([[`SELECT "load_kg" FROM "washer_cycle" WHERE ${dev} AND $timeFilter`, 'load kg'], [`SELECT "vibration_g" FROM "washer_cycle" WHERE ${dev} AND $timeFilter`, 'vibration g']]),
      fieldConfig: { custom: { drawStyle: 'points', pointSize: 6 } },
    },
    {
      type: 'timeseries', title: 'Cycles per day vs its model\'s cohort', interval: '1d',
      targets: influx([[perDay('count("load_kg")', 'washer_cycle'), 'this washer'], [cohort('count("load_kg")', 'washer_cycle'), 'cohort mean']]),
    },
    'Fridge',
    {
      type: 'timeseries', title: 'Temperatures', unit: 'celsius',
      targets: influx([[`SELECT mean("temp_c") FROM "fridge_state" WHERE ${dev} AND $timeFilter GROUP BY time($__interval)`, 'fridge'], [`SELECT mean("freezer_temp_c") FROM "fridge_state" WHERE ${dev} AND $timeFilter GROUP BY time($__interval)`, 'freezer']]),
    },
    {
      type: 'timeseries', title: 'Door openings per day vs its model\'s cohort', interval: '1d',
      targets: influx([[perDay('sum("door_openings")', 'fridge_state'), 'this fridge'], [cohort('sum("door_openings")', 'fridge_state'), 'cohort mean']]),
    },
    {
      type: 'timeseries', title: 'Compressor duty vs its model\'s cohort', unit: 'percentunit', interval: '1d',
      targets: influx([[perDay('mean("compressor_duty")', 'fridge_state'), 'this fridge'], [cohort('mean("compressor_duty")', 'fridge_state'), 'cohort mean']]),
    },
    'Car',
    {
      type: 'timeseries', title: 'Distance per day and night share', unit: 'lengthkm', interval: '1d',
      targets: influx([[perDay('sum("distance_km")', 'car_trip'), 'km'], [perDay('sum("night_km")', 'car_trip'), 'night km'], [cohort('sum("distance_km")', 'car_trip'), 'cohort mean km']]),
    },
    {
      type: 'timeseries', title: 'Odometer and battery health',
      targets: influx([[`SELECT last("odometer_km") FROM "car_trip" WHERE ${dev} AND $timeFilter GROUP BY time($__interval) fill(none)`, 'odometer km'], [`SELECT mean("battery_soh_pct") FROM "car_trip" WHERE ${dev} AND $timeFilter GROUP BY time($__interval) fill(none)`, 'battery health %']]),
    },
    'Events and triggers',
    {
      type: 'table', title: 'Error events',
      targets: influx([`SELECT "code", "severity", "detail" FROM "device_event" WHERE ${dev} AND $timeFilter ORDER BY time DESC LIMIT 200`], 'table'),
    },
    {
      type: 'table', title: 'Triggers for this device',
      targets: influx([`SELECT "rule_id", "category", "offer", "target", "summary", "trigger_id" FROM "trigger" WHERE ${dev} AND $timeFilter ORDER BY time DESC LIMIT 100`], 'table'),
    },
  ],
});
