import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { testInflux } from './influx.ts';

export interface ProcessEnv {
  /** UG_* variables for the CLI and `usage-gateway gateway` in child processes. */
  env: NodeJS.ProcessEnv;
  dir: string;
  database: string;
  influxUrl: string;
  cleanup(): Promise<void>;
}

/**
 * An environment for running the CLI and the gateway as separate processes that share one
 * data folder (registry, spool, dead-letters) and one fresh InfluxDB database, on free ports.
 */
export async function processEnv(extra: NodeJS.ProcessEnv = {}): Promise<ProcessEnv> {
  const influx = await testInflux();
  const dir = await mkdtemp(join(tmpdir(), 'ug-proc-'));
  const database = `t_${randomBytes(6).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    UG_CONFIG: '', // a config file named in the outer environment must not leak in
    UG_DATA_DIR: dir,
    UG_MQTT_HOST: '127.0.0.1',
    UG_MQTT_PORT: '0',
    UG_HTTP_HOST: '127.0.0.1',
    UG_HTTP_PORT: '0',
    UG_INFLUX_URL: influx.url,
    UG_INFLUX_DATABASE: database,
    UG_STATS_INTERVAL_S: '0',
    UG_SHUTDOWN_DEADLINE_MS: '2000',
    ...extra,
  };
  return {
    env, dir, database, influxUrl: influx.url,
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
      await influx.stop();
    },
  };
}
