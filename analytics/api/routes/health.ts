import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps.ts';

/** The health check and the Prometheus figures. Public (guard.ts): counts, no ids. */
export const healthRoutes: FastifyPluginAsync<{ analytics: ApiDeps }> = async (app, { analytics }) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    analytics.metrics.outboxDepth.set(analytics.state.outboxDepth());
    return reply.type(analytics.metrics.registry.contentType).send(await analytics.metrics.registry.metrics());
  });
};
