import { startLocalInflux, type LocalInflux } from './influx-local.ts';

/**
 * The InfluxDB a test file talks to: INFLUX_URL or UG_TEST_INFLUX_URL (the test runner starts
 * one influxd for the whole run and passes it on), else a private influxd for this file.
 */
export async function testInflux(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env.INFLUX_URL ?? process.env.UG_TEST_INFLUX_URL;
  if (url) return { url: url.replace(/\/$/, ''), stop: async () => {} };
  const local = await startLocalInflux();
  return { url: local.url, stop: () => local.stop() };
}

/** A private influxd that the test may kill and restart (outage tests). */
export function privateInflux(): Promise<LocalInflux> {
  return startLocalInflux();
}
