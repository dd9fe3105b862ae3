import cluster, { type Worker } from 'node:cluster';
import type { FastifyInstance } from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.ts';
import { UsageGatewayError, type ErrorCode } from '../../protocol/errors.ts';
import { buildHttpApp } from '../http/index.ts';
import type { GatewayAddresses } from '../gateway.ts';
import { isOurs, type FromWorker, type ToWorker } from './messages.ts';
import { mergeStatus } from './status.ts';
import { workerSpoolDir } from './plan.ts';

/** How long the primary waits for a worker's answer to /status, /readyz or /metrics. */
const ASK_TIMEOUT_MS = 3_000;
/** Deaths within this window make the next restart wait longer. */
const DEATH_WINDOW_MS = 60_000;
const RESTART_MAX_DELAY_MS = 30_000;
/** What a worker may take past the shutdown deadline to close (sockets, files) before it is killed. */
const STOP_GRACE_MS = 5_000;

interface Slot {
  index: number;
  worker?: Worker;
  state: 'starting' | 'running' | 'restarting' | 'stopped';
  restarts: number;
  /** Whether a worker of this number ever started: only then is one that dies started again. */
  started: boolean;
  deaths: number[];
  lastExit?: { code: number | null; signal: string | null; at: string };
  timer?: NodeJS.Timeout;
}

/**
 * The primary of a multi-worker gateway (`gateway.workers` above 1): it forks the workers
 * (Node's cluster: they share the MQTT listeners, connections handed out in turn), restarts
 * one that dies on the same spool folder, and serves HTTP for the whole gateway: /metrics
 * (prom-client's aggregation of the workers; /metrics/workers/<n> for one), /status (summed,
 * and each worker), /readyz (every worker ready) and /healthz.
 */
export class Supervisor {
  private readonly config: Readonly<ResolvedConfig>;
  private readonly count: number;
  private readonly log: Logger;
  private readonly slots: Slot[];
  private readonly aggregator = new AggregatorRegistry();
  private readonly pending = new Map<number, (body: unknown) => void>();
  private nextId = 1;
  private http?: FastifyInstance;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private startedAt = 0;
  addresses?: GatewayAddresses;

  constructor(config: Readonly<ResolvedConfig>, count: number, log: Logger) {
    this.config = config;
    this.count = count;
    this.log = log;
    this.slots = Array.from({ length: count }, (_, index) => ({ index, state: 'starting' as const, restarts: 0, started: false, deaths: [] }));
  }

  async start(): Promise<GatewayAddresses> {
    if (this.state !== 'new') throw new Error(`cannot start a gateway that is ${this.state}`);
    this.state = 'starting';
    const { config } = this;
    let mqtt: FromWorker & { ug: 'started' };
    try {
      const started = await Promise.all(this.slots.map((s) => this.fork(s)));
      mqtt = started[0];
      this.http = this.httpApp();
      await this.http.listen({ port: config.http.port, host: config.http.host }).catch((err: NodeJS.ErrnoException) => {
        throw new UsageGatewayError('GW_ERR_CONFIG', `http.port: cannot listen on ${config.http.host}:${config.http.port} (${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ': another process has that port' : ''})`);
      });
    } catch (err) {
      this.state = 'running';
      await this.stop();
      throw err;
    }
    this.addresses = { ...mqtt.addresses, http: (this.http.server.address() as { port: number }).port };
    this.startedAt = Date.now();
    this.state = 'running';
    this.log.info({ addresses: this.addresses, workers: this.slots.map((s) => ({ worker: s.index, pid: s.worker?.process.pid, spool: workerSpoolDir(config, s.index, this.count) })) }, 'gateway started');
    return this.addresses;
  }

  /** Forks worker `slot.index`; resolves once it listens, rejects with its error if it cannot start. */
  private fork(slot: Slot): Promise<FromWorker & { ug: 'started' }> {
    slot.state = 'starting';
    const worker = cluster.fork({ UG_WORKER_INDEX: String(slot.index), UG_WORKER_COUNT: String(this.count) });
    slot.worker = worker;
    worker.on('message', (m: unknown) => {
      if (isOurs<FromWorker>(m) && m.ug === 'reply') {
        this.pending.get(m.id)?.(m.body);
        this.pending.delete(m.id);
      }
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      worker.on('message', (m: unknown) => {
        if (settled || !isOurs<FromWorker>(m)) return;
        if (m.ug === 'started') {
          settled = true;
          slot.state = 'running';
          slot.started = true;
          // A stop sent while it was still loading may have come before it listened for it.
          if (this.state === 'stopping' && worker.isConnected()) worker.send({ ug: 'stop' } satisfies ToWorker);
          resolve(m);
        } else if (m.ug === 'failed') {
          settled = true;
          reject(new UsageGatewayError((m.code ?? 'GW_ERR_CONFIG') as ErrorCode, `gateway worker ${slot.index}: ${m.message}`));
        }
      });
      worker.once('exit', (code, signal) => {
        if (!settled) {
          settled = true;
          reject(new UsageGatewayError('GW_ERR_WORKER_EXITED', `gateway worker ${slot.index} ended while starting (exit code ${code}${signal ? `, ${signal}` : ''})`));
        }
        this.exited(slot, worker, code, signal);
      });
    });
  }

  /** A worker ended: unless the gateway is stopping, another takes its number and its spool. */
  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.lastExit = { code, signal, at: new Date().toISOString() };
    // A worker that never started is the start's failure to report, not one to restart.
    if (this.state === 'stopping' || this.state === 'stopped' || !slot.started) {
      slot.state = 'stopped';
      return;
    }
    const now = Date.now();
    slot.deaths = [...slot.deaths.filter((t) => now - t < DEATH_WINDOW_MS), now];
    const delayMs = slot.deaths.length <= 1 ? 0 : Math.min(RESTART_MAX_DELAY_MS, 500 * 2 ** (slot.deaths.length - 1));
    slot.state = 'restarting';
    this.log.error({ worker: slot.index, pid: worker.process.pid, exitCode: code, signal, restartInMs: delayMs, code: 'GW_ERR_WORKER_EXITED' }, 'a gateway worker ended; starting another on its spool');
    slot.timer = setTimeout(() => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      slot.restarts++;
      this.fork(slot).then(
        () => this.log.info({ worker: slot.index, pid: slot.worker?.process.pid }, 'gateway worker restarted'),
        (err: Error) => this.log.error({ worker: slot.index, err: err.message }, 'a restarted gateway worker could not start; trying again'),
      );
    }, delayMs);
  }

  /** Asks a worker over IPC; undefined when it is not running or does not answer in time. */
  private ask(slot: Slot, ug: 'status' | 'ready' | 'metrics'): Promise<unknown> {
    const w = slot.worker;
    if (!w || slot.state !== 'running' || !w.isConnected()) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      this.pending.set(id, (body) => {
        clearTimeout(timer);
        resolve(body);
      });
      w.send({ ug, id } satisfies ToWorker);
    });
  }

  private httpApp(): FastifyInstance {
    const app = buildHttpApp({ contentType: this.aggregator.contentType, metrics: () => this.aggregator.clusterMetrics() }, {
      notReady: () => this.notReady(),
      status: () => this.status(),
      refreshGauges: () => {},
    });
    app.get<{ Params: { n: string } }>('/metrics/workers/:n', async (req, reply) => {
      const slot = /^\d+$/.test(req.params.n) ? this.slots[Number(req.params.n)] : undefined;
      if (!slot) return reply.code(404).send({ error: { code: 'GW_ERR_BAD_REQUEST', message: `no worker ${req.params.n}: workers are numbered 0 to ${this.count - 1}` } });
      const text = await this.ask(slot, 'metrics');
      if (typeof text !== 'string') return reply.code(503).send({ error: { code: 'GW_ERR_WORKER_EXITED', message: `worker ${slot.index} is ${slot.state} and did not answer` } });
      return reply.type(this.aggregator.contentType).send(text);
    });
    return app;
  }

  async notReady(): Promise<string[]> {
    if (this.state !== 'running') return [`gateway is ${this.state}`];
    const answers = await Promise.all(this.slots.map(async (s) => [s, await this.ask(s, 'ready')] as const));
    return answers.flatMap(([s, r]) => Array.isArray(r) ? r.map((x) => `worker ${s.index}: ${x}`) : [`worker ${s.index} is ${s.state === 'running' ? 'not answering' : s.state}`]);
  }

  async status(): Promise<Record<string, unknown>> {
    const answers = await Promise.all(this.slots.map((s) => this.ask(s, 'status') as Promise<Record<string, any> | undefined>));
    const notReady = await this.notReady();
    return {
      state: this.state,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      addresses: this.addresses,
      ...mergeStatus(answers),
      ready: notReady.length === 0,
      notReady,
      workers: this.slots.map((s, i) => ({
        worker: s.index, pid: s.worker?.process.pid, state: s.state, restarts: s.restarts, lastExit: s.lastExit,
        ...(answers[i] ? { spool: answers[i]!.spool, takeovers: answers[i]!.takeovers, connections: answers[i]!.connections, readings: answers[i]!.readings, influx: answers[i]!.influx } : {}),
      })),
    };
  }

  /** Tells every worker to stop (each drains within shutdown.deadlineMs), then closes HTTP. */
  async stop(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const running = this.slots.flatMap((s) => {
      clearTimeout(s.timer);
      const w = s.worker;
      if (!w || w.isDead()) return [];
      const gone = new Promise<void>((r) => w.once('exit', () => r()));
      if (w.isConnected()) w.send({ ug: 'stop' } satisfies ToWorker);
      else w.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        this.log.warn({ worker: s.index, pid: w.process.pid }, 'gateway worker did not stop in time; killing it (its spool keeps what it held)');
        w.process.kill('SIGKILL');
      }, this.config.shutdown.deadlineMs + STOP_GRACE_MS);
      return [gone.finally(() => clearTimeout(timer))];
    });
    await Promise.all(running);
    await this.http?.close();
    this.state = 'stopped';
    this.log.info({ workers: this.count }, 'gateway stopped');
  }
}
