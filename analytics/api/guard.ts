import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sha256 } from '../../core/hash.ts';
import { routesOf } from './route-table.ts';

/**
 * The routes anyone may call without the token, as `METHOD /path` with the path as registered
 * (a HEAD route counts as its GET). They carry nothing about a device or an owner: the inbox
 * page and its assets (the page asks for the token and sends it on its own API calls), the
 * OpenAPI description and Swagger UI (the shape of the API, which is public in docs/http-api.md
 * anyway), the health check and the Prometheus figures (counts by rule and sink, no ids).
 * Every other route, and every request that matches no route at all, needs the token.
 */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  'GET /',
  'GET /inbox',
  'GET /inbox/inbox.js',
  'GET /inbox/inbox.css',
  'GET /healthz',
  'GET /metrics',
  'GET /docs',
  'GET /docs/',
  'GET /docs/json',
  'GET /docs/yaml',
  'GET /docs/static/*',
  'GET /docs/static/index.html',
  'GET /docs/static/swagger-initializer.js',
]);

const routeKey = (method: string, url: string) => `${method === 'HEAD' ? 'GET' : method} ${url}`;

/**
 * Whether a request is on a public route. Decided on the route the router matched (its
 * registered pattern), never on the request target as sent: the router decodes `%61pi`, takes
 * `http://host/api/…` for `/api/…` and so on, and a check on the raw text would see another
 * path than the one that answers.
 */
export function isPublic(req: FastifyRequest): boolean {
  const url = req.routeOptions.url;
  return !req.is404 && url !== undefined && PUBLIC_ROUTES.has(routeKey(req.method, url));
}

/** Who a change made through the API is recorded as: the token's fingerprint, never the token. */
export const tokenIdentity = (token?: string) => `token:${token ? sha256(token).toString('hex').slice(0, 12) : 'none'}`;

/**
 * Installs the token check on `app` and on every plugin registered after it: call it right
 * after recordRoutes(), before anything registers a route. `Authorization: Bearer <token>`,
 * compared in constant time (both sides hashed to the same length first). Without a configured
 * token every non-public request is refused. At ready, every allow-list entry must be a route.
 */
export function installGuard(app: FastifyInstance, token: string | undefined): void {
  const want = token ? sha256(token) : undefined;
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req)) return;
    // What the API answers is about devices and owners: no cache along the way keeps it.
    reply.header('cache-control', 'no-store');
    const refuse = (message: string) =>
      reply.code(401).header('www-authenticate', 'Bearer').send({ error: { code: 'GW_ERR_UNAUTHORIZED', message } });
    if (!want) return refuse('the analytics API has no token configured (analytics.api.token, UG_ANALYTICS_API_TOKEN); every call is refused');
    const m = /^Bearer[ \t]+(.+?)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (!m) return refuse('missing bearer token: send "Authorization: Bearer <token>"');
    if (!timingSafeEqual(sha256(m[1]), want)) return refuse('wrong bearer token');
  });
  app.addHook('onReady', async () => {
    const registered = new Set(routesOf(app).map((r) => routeKey(r.method, r.url)));
    const stale = [...PUBLIC_ROUTES].filter((k) => !registered.has(k));
    if (stale.length) throw new Error(`analytics API: public allow-list names routes that do not exist: ${stale.join(', ')}`);
  });
}
