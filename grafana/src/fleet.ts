import { dashboard, filter, influx } from './kit.ts';
import { telemetryReadings } from './readings.ts';
import { kindVar, modelVar } from './vars.ts';

const km = filter(['kind', 'kind'], ['model', 'model']);
const rate = (field: string) =>
  `SELECT sum("rate") FROM (SELECT non_negative_derivative(last("${field}"), 1s) AS "rate" FROM "gateway_stats" WHERE $timeFilter GROUP BY time($__interval), "instance") WHERE $timeFilter GROUP BY time($__interval)`;

/** Fleet: what is connected, what reports, how much, and what is refused. */
export const fleet = dashboard({
  uid: 'ug-fleet',
  title: 'Usage Gateway · Fleet',
  description: 'Devices online by kind and model, readings per second, refusals by reason.',
  tags: ['usage-gateway'],
  time: { from: 'now-24h', to: 'now' },
  refresh: '1m',
  variables: [kindVar, modelVar],
  layout: [
    'Devices',
    {
      type: 'stat', title: 'Devices connected now', w: 6, h: 6,
      description: 'Devices with an open MQTT connection, summed over gateway instances (from gateway_stats).',
      targets: influx([`SELECT sum("c") FROM (SELECT last("connected") AS "c" FROM "gateway_stats" WHERE $timeFilter AND ${km} GROUP BY "instance", "kind", "model")`]),
      options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value' },
    },
    {
      type: 'timeseries', title: 'Devices connected by kind and model', w: 18, h: 6,
      targets: influx([[
        `SELECT sum("c") FROM (SELECT last("connected") AS "c" FROM "gateway_stats" WHERE $timeFilter AND ${km} GROUP BY time($__interval), "instance", "kind", "model" fill(previous)) WHERE $timeFilter GROUP BY time($__interval), "kind", "model"`,
        '$tag_kind $tag_model',
      ]]),
    },
    {
      type: 'bargauge', title: 'Devices reporting in the range, by kind and model', w: 24, h: 7,
      description: 'Devices that sent at least one reading in the selected range.',
      targets: influx(telemetryReadings().map((r) => [
        `SELECT count("n") AS "devices" FROM (SELECT count("${r.counted}") AS "n" FROM "${r.measurement}" WHERE $timeFilter AND ${km} GROUP BY "device_id", "kind", "model") GROUP BY "kind", "model"`,
        '$tag_kind $tag_model',
      ])),
      options: { orientation: 'horizontal', displayMode: 'basic', reduceOptions: { calcs: ['lastNotNull'] } },
    },
    'Readings',
    {
      type: 'timeseries', title: 'Readings per second by kind (reading time)', unit: 'reqps',
      targets: influx(telemetryReadings().map((r) => [
        `SELECT count("${r.counted}") / ($__interval_ms / 1000) FROM "${r.measurement}" WHERE $timeFilter AND ${km} GROUP BY time($__interval), "kind" fill(0)`,
        '$tag_kind',
      ])),
    },
    {
      type: 'timeseries', title: 'Readings received and written by the gateway (per second)', unit: 'reqps',
      targets: influx([[rate('readings_received'), 'received'], [rate('points_written'), 'written to InfluxDB'], [rate('readings_refused'), 'refused']]),
    },
    {
      type: 'timeseries', title: 'Refusals by reason', description: 'Readings and messages refused per interval, by GW_ERR_… code (docs/errors.md).',
      targets: influx([[
        `SELECT sum("d") FROM (SELECT non_negative_difference(last("refused")) AS "d" FROM "gateway_stats" WHERE $timeFilter AND "reason" =~ /.+/ GROUP BY time($__interval), "instance", "reason") WHERE $timeFilter GROUP BY time($__interval), "reason"`,
        '$tag_reason',
      ]]),
      options: { legend: { displayMode: 'table', placement: 'right', calcs: ['sum'] } },
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal' } } },
    },
    {
      type: 'timeseries', title: 'Device errors by severity',
      targets: influx([[`SELECT count("code") FROM "device_event" WHERE $timeFilter AND ${km} GROUP BY time($__interval), "severity" fill(0)`, '$tag_severity']]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal' } } },
    },
  ],
});
