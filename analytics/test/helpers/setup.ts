import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { loadConfig } from '../../../config/load.ts';
import { createInfluxStore, type InfluxStore } from '../../../core/influx/index.ts';
import { Registry } from '../../../core/registry/index.ts';
import { loadCatalogue } from '../../../protocol/models.ts';
import type { ConsentPurpose } from '../../../protocol/registry.ts';
import { testInflux } from '../../../test/harness/influx.ts';
import type { ManifestDevice } from '../../backtest/manifest.ts';
import { createAnalytics, type Analytics } from '../../service.ts';

export const DAY = 86_400_000;
export const TOKEN = 'test-token-0123456789abcdef';

export interface AnalyticsEnv {
  dir: string;
  influxUrl: string;
  database: string;
  store: InfluxStore;
  registry: Registry;
  /** A new Analytics on this env's data folder, registry and database. */
  analytics(overrides?: Record<string, any>): Analytics;
  register(devices: ManifestDevice[], consent?: (d: ManifestDevice) => ConsentPurpose[]): Promise<void>;
  stop(): Promise<void>;
}

/** A data folder, a registry and an InfluxDB database of the test's own. */
export async function analyticsEnv(): Promise<AnalyticsEnv> {
  const influx = await testInflux();
  const dir = await mkdtemp(join(tmpdir(), 'ug-analytics-'));
  const database = `a_${randomBytes(6).toString('hex')}`;
  const base = loadConfig({ env: {}, overrides: { dataDir: dir, influx: { url: influx.url, database, rollups: false } } });
  const store = createInfluxStore(base.influx);
  await store.ensureDatabase();
  const registry = new Registry(base.registry.path, loadCatalogue(base.models.path));
  await registry.load();
  const made: Analytics[] = [];
  return {
    dir, influxUrl: influx.url, database, store, registry,
    analytics(o = {}) {
      const config = loadConfig({
        env: {},
        overrides: {
          ...o, dataDir: dir, log: { level: process.env.UG_TEST_LOG_LEVEL ?? 'silent' },
          influx: { url: influx.url, database, rollups: false, ...o.influx },
          analytics: { ...o.analytics, api: { host: '127.0.0.1', port: 0, token: TOKEN, ...o.analytics?.api }, delivery: { mqtt: false, retryMinMs: 50, retryMaxMs: 500, pollMs: 20, ...o.analytics?.delivery } },
        },
      });
      const a = createAnalytics(config, { log: pino({ level: config.log.level }) });
      made.push(a);
      return a;
    },
    async register(devices, consent = () => ['marketing', 'service']) {
      await registry.addDevices(devices.map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: consent(d) })));
    },
    async stop() {
      for (const a of made) await a.stop();
      await rm(dir, { recursive: true, force: true });
      await influx.stop();
    },
  };
}
