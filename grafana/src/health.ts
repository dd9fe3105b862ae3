import { dashboard, influx, variable } from './kit.ts';

const instanceVar = variable({ name: 'instance', label: 'Gateway instance', query: 'SHOW TAG VALUES FROM "gateway_stats" WITH KEY = "instance"' });
const inst = `"instance" =~ /^$instance$/`;
const last = (field: string, alias: string): [string, string] =>
  [`SELECT last("${field}") FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY time($__interval), "instance" fill(previous)`, `$tag_instance ${alias}`];
const perSecond = (field: string, alias: string): [string, string] =>
  [`SELECT non_negative_derivative(last("${field}"), 1s) FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY time($__interval), "instance"`, `$tag_instance ${alias}`];
const perInterval = (field: string, alias: string): [string, string] =>
  [`SELECT non_negative_difference(last("${field}")) FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY time($__interval), "instance"`, `$tag_instance ${alias}`];

/** Gateway health, from the `gateway_stats` points each gateway instance writes about itself. */
export const health = dashboard({
  uid: 'ug-health',
  title: 'Usage Gateway · Gateway health',
  description: 'Ingest rate, spool depth and age, write latency, dead-letters, connections.',
  tags: ['usage-gateway'],
  time: { from: 'now-6h', to: 'now' },
  refresh: '30s',
  variables: [instanceVar],
  layout: [
    {
      type: 'stat', title: 'Spool depth now', w: 6, h: 5, unit: 'short',
      description: 'Messages accepted but not yet in InfluxDB.',
      targets: influx([`SELECT sum("d") FROM (SELECT last("spool_depth_records") AS "d" FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY "instance")`]),
      options: { reduceOptions: { calcs: ['lastNotNull'] } },
    },
    {
      type: 'stat', title: 'Oldest spooled message', w: 6, h: 5, unit: 's',
      targets: influx([`SELECT max("a") FROM (SELECT last("spool_oldest_age_s") AS "a" FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY "instance")`]),
      options: { reduceOptions: { calcs: ['lastNotNull'] } },
    },
    {
      type: 'stat', title: 'Backpressure', w: 6, h: 5,
      description: '1 while a spool is full and QoS 1 acknowledgements are held.',
      targets: influx([`SELECT max("b") FROM (SELECT last("backpressure") AS "b" FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY "instance")`]),
      options: { reduceOptions: { calcs: ['lastNotNull'] } },
      fieldConfig: { mappings: [{ type: 'value', options: { 0: { text: 'no', color: 'green' }, 1: { text: 'FULL', color: 'red' } } }] },
    },
    {
      type: 'stat', title: 'Devices connected', w: 6, h: 5,
      targets: influx([`SELECT sum("c") FROM (SELECT last("devices_connected") AS "c" FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY "instance")`]),
      options: { reduceOptions: { calcs: ['lastNotNull'] } },
    },
    {
      type: 'timeseries', title: 'Ingest and write rate', unit: 'reqps',
      targets: influx([perSecond('readings_received', 'readings in'), perSecond('points_written', 'points written'), perSecond('messages_received', 'messages in')]),
    },
    {
      type: 'timeseries', title: 'Spool depth',
      targets: influx([last('spool_depth_records', 'messages'), last('spool_depth_bytes', 'bytes')]),
      fieldConfig: {},
    },
    {
      type: 'timeseries', title: 'Age of the oldest spooled message', unit: 's',
      targets: influx([last('spool_oldest_age_s', 'age')]),
    },
    {
      type: 'timeseries', title: 'Write latency to InfluxDB', unit: 's',
      targets: influx([
        [`SELECT mean("write_latency_mean_s") FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY time($__interval), "instance"`, '$tag_instance mean'],
        [`SELECT max("write_latency_p95_s") FROM "gateway_stats" WHERE $timeFilter AND ${inst} GROUP BY time($__interval), "instance"`, '$tag_instance p95 (bucket bound)'],
      ]),
    },
    {
      type: 'timeseries', title: 'Dead-letters, write retries and refusals per interval',
      targets: influx([perInterval('deadlettered', 'dead-lettered'), perInterval('write_retries', 'write retries'), perInterval('readings_refused', 'readings refused'), perInterval('auth_failures', 'refused connections')]),
      fieldConfig: { custom: { drawStyle: 'bars', fillOpacity: 60 } },
    },
    {
      type: 'timeseries', title: 'Connections',
      targets: influx([last('devices_connected', 'devices'), last('consumers_connected', 'consumers')]),
    },
  ],
});
