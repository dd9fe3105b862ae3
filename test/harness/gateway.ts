import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig, type ResolvedConfig } from '../../config/load.ts';
import { createGateway, type Gateway } from '../../gateway/index.ts';
import { createInfluxStore, type InfluxStore } from '../../core/influx/index.ts';
import type { ConsentPurpose } from '../../protocol/registry.ts';
import type { ConsumerAccess } from '../../core/registry/index.ts';
import { testInflux } from './influx.ts';

export interface TestDevice {
  id: string;
  secret: string;
  kind: string;
  model: string;
}

export interface TestGateway {
  gateway: Gateway;
  config: Readonly<ResolvedConfig>;
  dir: string;
  mqttUrl: string;
  mqttPort: number;
  httpUrl: string;
  database: string;
  store: InfluxStore;
  addDevice(opts?: { id?: string; kind?: string; model?: string; owner?: string; consent?: ConsentPurpose[] }): Promise<TestDevice>;
  /** A consumer identity; by default it may receive every purpose (marketing and service). */
  addConsumer(id?: string, access?: ConsumerAccess): Promise<{ id: string; secret: string }>;
  query<T = Record<string, unknown>>(q: string): Promise<T[]>;
  count(measurement: string, where?: string): Promise<number>;
  /** Polls InfluxDB until `measurement` holds `n` points (the condition, not a fixed sleep). */
  waitForCount(measurement: string, n: number, opts?: { where?: string; timeoutMs?: number }): Promise<number>;
  /** Log entries (parsed JSON) when started with `captureLogs`, else empty. */
  logs: Array<Record<string, unknown>>;
  /** Stops the gateway (keeps its folders unless `cleanup`). */
  stop(cleanup?: boolean): Promise<void>;
}

export const DEFAULT_MODEL: Record<string, string> = { washer: 'WM-8', fridge: 'FR-350', car: 'CAR-CITY' };

export interface TestGatewayOptions {
  overrides?: Record<string, any>;
  influxUrl?: string;
  /** Reuse a data folder (restart tests). */
  dir?: string;
  database?: string;
  /** Keep the gateway's log entries in `logs` (at info level unless UG_TEST_LOG_LEVEL says more). */
  captureLogs?: boolean;
}

/** A real gateway on free ports, with its own data folder and InfluxDB database. */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const influx = opts.influxUrl ? { url: opts.influxUrl, stop: async () => {} } : await testInflux();
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'ug-test-')));
  const database = opts.database ?? `t_${randomBytes(6).toString('hex')}`;
  const o = opts.overrides ?? {};
  const config = loadConfig({
    env: {},
    overrides: {
      ...o,
      dataDir: dir,
      log: { level: process.env.UG_TEST_LOG_LEVEL ?? (opts.captureLogs ? 'info' : 'silent'), ...o.log },
      mqtt: { port: 0, host: '127.0.0.1', ...o.mqtt },
      http: { port: 0, host: '127.0.0.1', ...o.http },
      influx: { url: influx.url, database, ...o.influx },
      writer: { retryMinMs: 50, retryMaxMs: 1_000, ...o.writer },
      shutdown: { deadlineMs: 2_000, ...o.shutdown },
    },
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = opts.captureLogs
    ? pino({ level: config.log.level }, new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
        done();
      },
    }))
    : pino({ level: config.log.level });
  const gateway = createGateway(config, { log });
  const addr = await gateway.start();
  const store = createInfluxStore(config.influx);
  let n = 0;
  const t: TestGateway = {
    gateway, config, dir, database, store, logs,
    mqttPort: addr.mqtt,
    mqttUrl: `mqtt://127.0.0.1:${addr.mqtt}`,
    httpUrl: `http://127.0.0.1:${addr.http}`,
    async addDevice(d = {}) {
      const kind = d.kind ?? 'washer';
      const id = d.id ?? `${kind}-${process.pid}-${++n}`;
      const model = d.model ?? DEFAULT_MODEL[kind];
      const { secret } = await gateway.registry.addDevice({ id, kind, model, owner: d.owner ?? `owner-${id}`, consent: d.consent ?? ['marketing', 'service'] });
      return { id, secret, kind, model };
    },
    async addConsumer(id = `consumer-${++n}`, access: ConsumerAccess = { purposes: ['marketing', 'service'] }) {
      const { secret } = await gateway.registry.addConsumer(id, 'consumer', access);
      return { id, secret };
    },
    query: (q) => store.query(q),
    async count(measurement, where) {
      const rows = await store.query<{ count: number }>(`SELECT count(*) FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`);
      if (rows.length === 0) return 0;
      return Math.max(...Object.entries(rows[0]).filter(([k]) => k.startsWith('count')).map(([, v]) => Number(v)));
    },
    async waitForCount(measurement, want, w = {}) {
      const deadline = Date.now() + (w.timeoutMs ?? 30_000);
      let got = 0;
      for (;;) {
        got = await t.count(measurement, w.where);
        if (got >= want) return got;
        if (Date.now() > deadline) return got;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop(cleanup = true) {
      await gateway.stop();
      if (cleanup && !opts.dir) await rm(dir, { recursive: true, force: true });
      await influx.stop();
    },
  };
  return t;
}
