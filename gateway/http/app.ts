import Fastify, { type FastifyInstance } from 'fastify';
/** What /metrics serves: a prom-client registry, or the aggregation of the workers' registries. */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface StatusSource {
  /** Readiness: empty when ready, else the reasons it is not. */
  notReady(): string[] | Promise<string[]>;
  /** The figures of `usage-gateway status`. */
  status(): Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Refreshes gauges that are computed on demand (spool depth, age). */
  refreshGauges(): void;
}

/**
 * The gateway's HTTP side: /healthz (the process answers), /readyz (it can take and store
 * readings), /metrics (Prometheus text) and /status (JSON). Built apart from listen() so tests
 * can start it on port 0.
 */
export function buildHttpApp(metrics: MetricsSource, source: StatusSource): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const reasons = await source.notReady();
    return reply.code(reasons.length === 0 ? 200 : 503).send({ ready: reasons.length === 0, reasons });
  });
  app.get('/metrics', async (_req, reply) => {
    source.refreshGauges();
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });
  app.get('/status', async () => source.status());
  app.setNotFoundHandler((req, reply) => reply.code(404).send({
    error: { code: 'GW_ERR_BAD_REQUEST', message: `no route ${req.method} ${req.url.split('?')[0]}; the gateway serves GET /healthz, /readyz, /metrics and /status` },
  }));
  return app;
}
