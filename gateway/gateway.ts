import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../config/load.ts';
import { loadCatalogue } from '../protocol/models.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { Broker, type ListenAddresses } from './broker/index.ts';
import { DeadLetterStore } from './deadletter/index.ts';
import { buildHttpApp } from './http/index.ts';
import { Ingest } from './ingest/index.ts';
import { createLogger, type Logger } from '../core/log.ts';
import { createMetrics, type Metrics } from './metrics/index.ts';
import { Registry } from '../core/registry/index.ts';
import { Spool } from './spool/index.ts';
import { hostname } from 'node:os';
import { createInfluxStore, type InfluxStore } from '../core/influx/index.ts';
import { StatsReporter } from './metrics/stats-reporter.ts';
import { SpoolTakeover, Writer, WriterThread } from './writer/index.ts';

export interface GatewayAddresses extends ListenAddresses {
  /** The HTTP port; none in a worker of a multi-worker gateway, whose primary serves HTTP. */
  http?: number;
}

export interface GatewayOptions {
  log?: Logger;
  /** Serve /healthz, /readyz, /metrics and /status on http.port (default); off in a worker. */
  serveHttp?: boolean;
  /** Spool folders left by workers that no longer run: written to InfluxDB, then left empty. */
  adopt?: string[];
  /** The worker number, in a gateway of several workers (its stats instance ends in `-w<n>`). */
  worker?: number;
}

interface Parts {
  registry: Registry;
  spool: Spool;
  deadletter: DeadLetterStore;
  store: InfluxStore;
  writer: Pick<Writer, 'start' | 'stop' | 'status'>;
  ingest: Ingest;
  stats: StatsReporter;
  broker: Broker;
  http?: FastifyInstance;
  takeovers: SpoolTakeover[];
}

/**
 * The gateway: broker → ingest → spool → writer → InfluxDB, plus the HTTP side.
 * createGateway() does no I/O; start() opens files and sockets; stop() is idempotent.
 */
export class Gateway {
  readonly config: Readonly<ResolvedConfig>;
  readonly log: Logger;
  readonly metrics: Metrics;
  private parts?: Parts;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private startedAt = 0;
  private readonly options: GatewayOptions;
  addresses?: GatewayAddresses;

  constructor(config: Readonly<ResolvedConfig>, opts: GatewayOptions = {}) {
    this.config = config;
    this.options = opts;
    this.log = opts.log ?? createLogger(config.log.level);
    this.metrics = createMetrics();
  }

  get registry(): Registry {
    return this.need().registry;
  }

  get spool(): Spool {
    return this.need().spool;
  }

  get broker(): Broker {
    return this.need().broker;
  }

  get store(): InfluxStore {
    return this.need().store;
  }

  private need(): Parts {
    if (!this.parts) throw new Error('the gateway is not started');
    return this.parts;
  }

  async start(): Promise<GatewayAddresses> {
    if (this.state !== 'new') throw new Error(`cannot start a gateway that is ${this.state}`);
    this.state = 'starting';
    const { config, log, metrics } = this;
    const catalogue = loadCatalogue(config.models.path);
    const registry = new Registry(config.registry.path, catalogue, log.child({ module: 'registry' }));
    await registry.load();
    registry.watch();
    const spool = new Spool({ ...config.spool, log: log.child({ module: 'spool' }) });
    await spool.open();
    spool.on('full', () => log.warn({ spool: spool.stats(), code: 'GW_ERR_SPOOL_FULL' }, 'spool full: QoS 1 acknowledgements are held and QoS 0 refused until InfluxDB catches up'));
    const deadletter = new DeadLetterStore(config.deadletter.dir, config.deadletter.maxBytes, {
      log: log.child({ module: 'deadletter' }),
      onRefused: (e) => metrics.deadLetterRefused.inc({ source: e.source }),
    });
    await deadletter.open();
    const store = createInfluxStore(config.influx);
    try {
      await store.ensureDatabase();
    } catch (err) {
      log.warn({ err: (err as Error).message, url: config.influx.url }, 'InfluxDB is not reachable yet; readings are spooled and written when it is');
    }
    const { thread, ...writerConfig } = config.writer;
    const writer = thread
      ? new WriterThread({ spool, influx: config.influx, deadletter, metrics, log: log.child({ module: 'writer' }), writer: writerConfig })
      : new Writer({ spool, store, deadletter, metrics, log: log.child({ module: 'writer' }), ...writerConfig });
    let broker: Broker | undefined;
    const ingest = new Ingest({
      registry, spool, deadletter, metrics, log: log.child({ module: 'ingest' }),
      notify: (id, notice) => broker?.notify(id, notice),
      maxPayloadBytes: config.mqtt.maxPayloadBytes,
      maxAgeMs: config.influx.retentionDays * 86_400_000,
      maxFutureSkewMs: config.ingest.maxFutureSkewS * 1000,
      logEveryMs: config.ingest.logEveryMs,
      queue: { maxInFlight: config.ingest.maxInFlight, pauseAt: config.ingest.pauseAtQueued, pauseAtSpooling: config.ingest.pauseAtSpooling, refuseAt: config.ingest.maxQueued },
    });
    broker = new Broker({ config, registry, ingest, metrics, log: log.child({ module: 'broker' }) });
    const http = this.options.serveHttp === false ? undefined : buildHttpApp(metrics.registry, {
      notReady: () => this.notReady(),
      status: () => this.status(),
      refreshGauges: () => this.refreshGauges(),
    });
    const stats = new StatsReporter({
      metrics, spool, intervalMs: config.stats.intervalS * 1000, instance: workerInstance(config.stats.instance ?? hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64), this.options.worker),
      refresh: () => this.refreshGauges(), log: log.child({ module: 'stats' }),
    });
    const takeovers: SpoolTakeover[] = [];
    for (const dir of this.options.adopt ?? []) {
      const t = await SpoolTakeover.start(dir, { config, store, deadletter, metrics, log: log.child({ module: 'takeover' }) })
        .catch((err: Error) => log.error({ err, spool: dir }, 'cannot open a spool left by a worker no longer run; it stays for the next start'));
      if (t) takeovers.push(t);
    }
    this.parts = { registry, spool, deadletter, store, writer, ingest, stats, broker, http, takeovers };
    writer.start();
    stats.start();
    let mqtt: ListenAddresses;
    try {
      mqtt = await broker.listen();
      await http?.listen({ port: config.http.port, host: config.http.host }).catch((err: NodeJS.ErrnoException) => {
        throw new UsageGatewayError('GW_ERR_CONFIG', `http.port: cannot listen on ${config.http.host}:${config.http.port} (${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ': another process has that port' : ''})`);
      });
    } catch (err) {
      // A start that fails (a port taken, a bad certificate) stops what it started: no timers or files left open.
      this.state = 'running';
      await this.stop().catch(() => {});
      throw err;
    }
    this.addresses = http ? { ...mqtt, http: (http.server.address() as { port: number }).port } : mqtt;
    this.startedAt = Date.now();
    this.state = 'running';
    log.info({ addresses: this.addresses, influx: config.influx.url, database: config.influx.database, spool: spool.stats() }, this.options.worker === undefined ? 'gateway started' : 'gateway worker started');
    return this.addresses;
  }

  /**
   * Stops accepting, disconnects clients, writes what it can within the shutdown deadline and
   * leaves the rest in the spool for the next start.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping' || !this.parts) {
      this.state = this.parts ? this.state : 'stopped';
      return;
    }
    this.state = 'stopping';
    const { broker, writer, stats, spool, deadletter, registry, http, takeovers } = this.parts;
    broker.stopAccepting();
    await broker.close();
    await stats.stop();
    await Promise.all([writer.stop(this.config.shutdown.deadlineMs), ...takeovers.map((t) => t.stop(this.config.shutdown.deadlineMs))]);
    await http?.close();
    const left = spool.stats();
    await spool.close();
    await deadletter.close();
    await registry.stop();
    this.state = 'stopped';
    this.log.info({ leftInSpool: { records: left.depthRecords, bytes: left.depthBytes } }, 'gateway stopped');
  }

  /** Sets the gauges computed on demand (spool depth and age, backpressure). */
  refreshGauges(): void {
    if (!this.parts) return;
    const s = this.parts.spool.stats();
    this.metrics.spoolDepthBytes.set(s.depthBytes);
    this.metrics.spoolDepthRecords.set(s.depthRecords);
    this.metrics.spoolOldestAge.set(s.oldestAgeMs / 1000);
    this.metrics.backpressure.set(s.full ? 1 : 0);
    const q = this.parts.ingest.queue.stats();
    this.metrics.ingestQueued.set(q.waiting);
    this.metrics.ingestInFlight.set(q.inFlight);
    this.metrics.ingestSpooling.set(q.spooling);
    this.metrics.ingestPaused.set(q.paused ? 1 : 0);
  }

  notReady(): string[] {
    if (this.state !== 'running' || !this.parts) return [`gateway is ${this.state}`];
    const reasons: string[] = [];
    if (this.parts.spool.full) reasons.push('spool is full: QoS 1 acknowledgements are held (backpressure) until InfluxDB catches up');
    reasons.push(...this.parts.broker.notReady());
    return reasons;
  }

  async status(): Promise<Record<string, unknown>> {
    const p = this.need();
    this.refreshGauges();
    const counter = async (c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }) =>
      (await c.get()).values.reduce((n, v) => n + v.value, 0);
    const byLabel = async (c: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, label: string) =>
      Object.fromEntries((await c.get()).values.map((v) => [String(v.labels[label]), v.value]));
    return {
      state: this.state,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      addresses: this.addresses,
      influx: { url: this.config.influx.url, database: this.config.influx.database, ...p.writer.status() },
      spool: p.spool.stats(),
      ingest: p.ingest.queue.stats(),
      // Spools of workers that no longer run, being written out (see gateway.workers).
      takeovers: p.takeovers.map((t) => t.stats()),
      connections: await byLabel(this.metrics.connected, 'role'),
      readings: {
        received: await counter(this.metrics.readingsIn),
        refused: await byLabel(this.metrics.readingsRefused, 'reason'),
        messagesRefused: await byLabel(this.metrics.messagesRefused, 'reason'),
        written: await counter(this.metrics.pointsWritten),
        deadLettered: await byLabel(this.metrics.deadLettered, 'source'),
      },
      writeRetries: await counter(this.metrics.writeRetries),
      writeLatencyMs: await latency(this.metrics.writeLatency, p.writer.status().lastWriteMs),
      ready: this.notReady().length === 0,
      notReady: this.notReady(),
    };
  }
}

/** The stats instance tag of a worker: the gateway's, with the worker number. */
function workerInstance(instance: string, worker: number | undefined): string {
  return worker === undefined ? instance : `${instance.slice(0, 58)}-w${worker}`;
}

/** Last and mean duration of successful InfluxDB writes, from the histogram's sum and count. */
async function latency(h: Metrics['writeLatency'], last: number | undefined): Promise<{ last?: number; mean?: number; writes: number }> {
  const values = (await h.get()).values;
  const sum = values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const writes = values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  return { last, mean: writes > 0 ? Math.round((sum * 1000 / writes) * 10) / 10 : undefined, writes };
}

export function createGateway(config: Readonly<ResolvedConfig>, opts: GatewayOptions = {}): Gateway {
  return new Gateway(config, opts);
}
