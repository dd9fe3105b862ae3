import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { UsageGatewayError } from '../../protocol/errors.ts';
import type { ApiDeps } from './deps.ts';
import { installGuard, tokenIdentity } from './guard.ts';
import { installSecurityHeaders, SECURITY_HEADERS } from './headers.ts';
import { fail } from './reply.ts';
import { recordRoutes } from './route-table.ts';
import { catalogueRoutes } from './routes/catalogue.ts';
import { consentRoutes } from './routes/consent.ts';
import { healthRoutes } from './routes/health.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { insightsRoutes } from './routes/insights.ts';
import { ownerRoutes } from './routes/owners.ts';
import { triggerRoutes } from './routes/triggers.ts';

/** Largest request body, in bytes; larger ones are refused before they are read. */
export const BODY_LIMIT = 64 * 1024;
/** Longest time a client may take to send one whole request. */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The analytics API: triggers (list, one, feedback), consent, owner reports, rules; the trigger
 * inbox page; OpenAPI at /docs. One route plugin per resource group (routes/), registered here
 * after the hooks that cover them all. Every route but the few of PUBLIC_ROUTES (guard.ts) needs
 * `Authorization: Bearer <analytics.api.token>`.
 * Requests are validated with the protocol's zod schemas, so the API and the contract agree.
 */
export async function buildApiApp(o: { analytics: ApiDeps; token?: string }): Promise<FastifyInstance> {
  const { analytics } = o;
  const app = Fastify({
    logger: false,
    // The largest body the API takes is a feedback or a consent list: a few hundred bytes.
    bodyLimit: BODY_LIMIT,
    // fastify's default (0) would lift Node's own limit: a client gets this long to send a request.
    requestTimeout: REQUEST_TIMEOUT_MS,
    // A target the router cannot decode (`/%ZZ`) or a path parameter over 100 characters is
    // refused before routing, so before any hook: answer it in our own form. It reaches no handler.
    frameworkErrors: (err, _req, reply) => fail(reply.headers(SECURITY_HEADERS), 'GW_ERR_BAD_REQUEST', `${err.message}; see /docs`),
  });
  recordRoutes(app);
  // Before any route or plugin, so that they cover them all (fastify encapsulation).
  installSecurityHeaders(app);
  installGuard(app, o.token);
  // The routes' schemas document the API (OpenAPI); validation is zod's, with our error codes.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(swagger, {
    openapi: {
      info: { title: 'Usage Gateway analytics API', version: '1', description: 'Usage-based triggers with their evidence, feedback and consent. See docs/http-api.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // BaseLayout: without the top bar, whose logo is an SVG with an inline <style> that the CSP refuses.
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { layout: 'BaseLayout' } });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof UsageGatewayError) return fail(reply, err.code, err.message, err.details);
    if (err.statusCode && err.statusCode < 500) return fail(reply, 'GW_ERR_BAD_REQUEST', err.message);
    analytics.log.error({ err }, 'analytics API error');
    return reply.code(500).send({ error: { code: 'GW_ERR_STATE', message: 'internal error; see the analytics log' } });
  });
  app.setNotFoundHandler((req, reply) => fail(reply, 'GW_ERR_BAD_REQUEST', `no route ${req.method} ${req.url.split('?')[0]}; see /docs`));

  // Registered after the hooks, error handler and compilers above, which each plugin inherits.
  await app.register(triggerRoutes, { analytics });
  await app.register(consentRoutes, { analytics, actor: tokenIdentity(o.token) });
  await app.register(ownerRoutes, { analytics });
  await app.register(catalogueRoutes, { analytics });
  await app.register(inboxRoutes);
  await app.register(insightsRoutes, { analytics });
  await app.register(healthRoutes, { analytics });
  return app;
}
