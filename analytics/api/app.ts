import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { z } from 'zod';
import { UsageGatewayError, type ErrorCode } from '../../protocol/errors.ts';
import { CONSENT_PURPOSES, SENSITIVE_CATEGORIES } from '../../protocol/registry.ts';
import { TRIGGER_CATEGORIES } from '../../protocol/topics.ts';
import { feedbackInputSchema, TRIGGER_STATUSES, triggerSchema, type Feedback } from '../../protocol/trigger.ts';
import { OWNER_RE, OWNER_RULE, quoted } from '../../protocol/ids.ts';
import { ownerReportSchema } from '../../protocol/owner-report.ts';
import { buildOwnerReport } from '../report/index.ts';
import type { ApiDeps } from './deps.ts';
import type { TriggerRecord } from '../store/state.ts';
import { installGuard, tokenIdentity } from './guard.ts';
import { installSecurityHeaders, SECURITY_HEADERS } from './headers.ts';
import { recordRoutes } from './routes.ts';
import { insightsRoutes } from './insights.ts';

const INBOX = new URL('./inbox/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, INBOX), 'utf8');

const listQuery = z.object({
  category: z.enum(TRIGGER_CATEGORIES).optional(),
  rule: z.string().max(64).optional(),
  model: z.string().max(64).optional(),
  kind: z.string().max(32).optional(),
  device: z.string().max(64).optional(),
  owner: z.string().max(128).optional(),
  status: z.enum(TRIGGER_STATUSES).optional(),
  since: z.iso.datetime().optional(),
  /** Cursor: the `next` of the previous page (`<creation ms>-<trigger id>`). */
  before: z.string().regex(/^\d{1,16}-[0-9a-f]{32}$/, 'expected the "next" of the previous page').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
}).strict();

const consentBody = z.object({ consent: z.array(z.enum(CONSENT_PURPOSES)) }).strict();

/** Largest request body, in bytes; larger ones are refused before they are read. */
export const BODY_LIMIT = 64 * 1024;
/** Longest time a client may take to send one whole request. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A stored trigger as the API shows it: the trigger, its status, feedback and deliveries. */
const triggerView = (r: TriggerRecord) => ({ ...r.trigger, sensitive: SENSITIVE_CATEGORIES.includes(r.trigger.category), status: r.status, feedback: r.feedback, delivery: r.delivery });

const STATUS: Partial<Record<ErrorCode, number>> = {
  GW_ERR_UNAUTHORIZED: 401, GW_ERR_BAD_REQUEST: 400, GW_ERR_TRIGGER_UNKNOWN: 404, GW_ERR_DEVICE_UNKNOWN: 404, GW_ERR_USAGE: 400, GW_ERR_NOT_FOUND: 404,
};

function fail(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown) {
  return reply.code(STATUS[code] ?? 500).send({ error: { code, message, ...(details ? { details } : {}) } });
}

/**
 * zod issues as `field: problem` lines a person can act on; an unknown field named in `refused`
 * gets that explanation instead of "unknown field".
 */
function issues(err: z.ZodError, refused: Record<string, string> = {}): Array<{ field: string; problem: string }> {
  return err.issues.flatMap((i) => {
    if (i.code !== 'unrecognized_keys') return [{ field: i.path.join('.') || '(body)', problem: i.message }];
    const prefix = i.path.length ? `${i.path.join('.')}.` : '';
    return i.keys.map((k) => ({ field: `${prefix}${k}`, problem: Object.hasOwn(refused, k) ? refused[k] : `unknown field "${k}"` }));
  });
}

/** Fields a feedback body may not carry, and why. */
const FEEDBACK_REFUSED = {
  at: 'the time of a feedback is the time the API receives it and cannot be set; leave "at" out',
};

const errorSchema = { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } } };
const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/**
 * The analytics API: triggers (list, one, feedback), consent, rules; the trigger inbox page;
 * OpenAPI at /docs. Every route but the few of PUBLIC_ROUTES (guard.ts) needs
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
  // Schemas below document the API (OpenAPI); validation is zod's, with our error codes.
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

  const tags = (t: string) => ({ tags: [t] });
  const triggerJson = { ...json(triggerSchema), additionalProperties: true };

  app.get('/api/triggers', {
    schema: { ...tags('triggers'), summary: 'List triggers, newest first, with filters', querystring: json(listQuery),
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: triggerJson }, next: { type: 'string' } } }, 400: errorSchema } },
  }, async (req, reply) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) return fail(reply, 'GW_ERR_BAD_REQUEST', 'invalid query parameters', issues(q.error));
    const f = q.data;
    const page = analytics.state.list({
      category: f.category, ruleId: f.rule, model: f.model, kind: f.kind, deviceId: f.device, owner: f.owner, status: f.status,
      since: f.since ? Date.parse(f.since) : undefined, limit: f.limit,
      before: f.before ? { time: Number(f.before.split('-')[0]), id: f.before.split('-')[1] } : undefined,
    });
    return { items: page.items.map(triggerView), ...(page.next ? { next: `${page.next.time}-${page.next.id}` } : {}) };
  });

  app.get<{ Params: { id: string } }>('/api/triggers/:id', {
    schema: { ...tags('triggers'), summary: 'One trigger with its evidence, status, feedback and deliveries', response: { 200: triggerJson, 404: errorSchema } },
  }, async (req, reply) => {
    const rec = analytics.state.get(req.params.id);
    if (!rec) return fail(reply, 'GW_ERR_TRIGGER_UNKNOWN', `no trigger "${req.params.id}"`);
    return triggerView(rec);
  });

  app.post<{ Params: { id: string } }>('/api/triggers/:id/feedback', {
    schema: { ...tags('triggers'), summary: 'Record what came of a trigger: accepted, declined or converted', body: json(feedbackInputSchema),
      response: { 201: triggerJson, 400: errorSchema, 404: errorSchema } },
  }, async (req, reply) => {
    const body = feedbackInputSchema.safeParse(req.body);
    if (!body.success) {
      const problems = issues(body.error, FEEDBACK_REFUSED);
      return fail(reply, 'GW_ERR_BAD_REQUEST', `invalid feedback: ${problems.map((i) => `${i.field}: ${i.problem}`).join('; ')}`, problems);
    }
    if (!analytics.state.get(req.params.id)) return fail(reply, 'GW_ERR_TRIGGER_UNKNOWN', `no trigger "${req.params.id}"`);
    // A device removed, or erased in another process a moment ago: its triggers take no more feedback.
    await analytics.registry.refresh();
    const deviceId = analytics.state.get(req.params.id)!.trigger.deviceId;
    if (!analytics.registry.device(deviceId)) return fail(reply, 'GW_ERR_NOT_FOUND', `device ${deviceId} is no longer registered; its triggers take no feedback`);
    const now = new Date().toISOString();
    // Timed by the server, never by the client (a decline dated ahead would suppress for as long).
    const fb: Feedback = { ...body.data, at: now, receivedAt: now };
    const feedbackSinks = analytics.config.analytics.delivery.influx ? ['influx'] : [];
    const rec = await analytics.state.addFeedback(req.params.id, fb, feedbackSinks);
    analytics.metrics.feedback.inc({ rule: rec!.trigger.ruleId, outcome: fb.outcome });
    return reply.code(201).send(triggerView(rec!));
  });

  const consentView = (id: string) => {
    const d = analytics.registry.device(id);
    if (!d) throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `no device "${id}" in the registry`);
    return { deviceId: d.id, owner: d.owner, ownerSince: d.ownerSince, consent: d.consent };
  };
  const consentJson = { type: 'object', properties: { deviceId: { type: 'string' }, owner: { type: 'string' }, ownerSince: { type: 'string' }, consent: { type: 'array', items: { type: 'string' } } } };
  app.get<{ Params: { id: string } }>('/api/devices/:id/consent', {
    schema: { ...tags('consent'), summary: "A device owner's consent (marketing, service, analytics)", response: { 200: consentJson, 404: errorSchema } },
  }, async (req) => {
    await analytics.registry.refresh();
    return consentView(req.params.id);
  });
  app.put<{ Params: { id: string } }>('/api/devices/:id/consent', {
    schema: { ...tags('consent'), summary: "Replace a device owner's consent", body: json(consentBody), response: { 200: consentJson, 400: errorSchema, 404: errorSchema } },
  }, async (req, reply) => {
    const body = consentBody.safeParse(req.body);
    if (!body.success) return fail(reply, 'GW_ERR_BAD_REQUEST', `invalid consent: ${issues(body.error).map((i) => `${i.field}: ${i.problem}`).join('; ')}`, issues(body.error));
    consentView(req.params.id);
    await analytics.registry.setConsent(req.params.id, body.data.consent, { source: 'api', actor: tokenIdentity(o.token) });
    return consentView(req.params.id);
  });
  app.get<{ Params: { id: string } }>('/api/devices/:id/consent/history', {
    schema: { ...tags('consent'), summary: "Every consent change of a device: when, the consent from then on, owner, source (cli, api, import) and actor", response: { 404: errorSchema } },
  }, async (req) => {
    await analytics.registry.refresh();
    consentView(req.params.id);
    return { deviceId: req.params.id, history: analytics.registry.device(req.params.id)!.consentHistory ?? [] };
  });

  app.get<{ Params: { id: string } }>('/api/owners/:id/report', {
    schema: { ...tags('owners'), summary: "What is held about an owner: devices and their data, every trigger with its evidence in words, what the policy held back and why, the consent history (schema: protocol/owner-report.ts)",
      response: { 200: { ...json(ownerReportSchema), additionalProperties: true }, 400: errorSchema, 404: errorSchema } },
  }, async (req, reply) => {
    if (!OWNER_RE.test(req.params.id)) return fail(reply, 'GW_ERR_BAD_REQUEST', `${quoted(req.params.id)} is not an owner id: expected ${OWNER_RULE}`);
    const report = await buildOwnerReport(req.params.id, analytics);
    if (report.devices.length === 0 && report.triggers.length === 0 && report.held.length === 0 && report.consentHistory.length === 0) {
      return fail(reply, 'GW_ERR_NOT_FOUND', `nothing is held about owner "${req.params.id}"`);
    }
    return report;
  });

  await app.register(insightsRoutes, { analytics });
  app.get('/api/rules', { schema: { ...tags('rules'), summary: 'The rule catalogue' } }, async () =>
    analytics.rules.map((r) => ({ id: r.id, version: r.version, enabled: r.enabled, category: r.category, purpose: r.purpose, kinds: r.kinds, description: r.description.trim(), offer: r.offer, windowDays: r.windowDays, cooldownDays: r.cooldownDays })));
  app.get('/api/models', { schema: { ...tags('rules'), summary: 'The model catalogue (for filters)' } }, async () => analytics.catalogue.models);

  // The trigger inbox: plain HTML, one script, one stylesheet; no build step.
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/inbox'));
  app.get('/inbox', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(asset('index.html')));
  app.get('/inbox/inbox.js', { schema: { hide: true } }, async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(asset('inbox.js')));
  app.get('/inbox/inbox.css', { schema: { hide: true } }, async (_req, reply) => reply.type('text/css; charset=utf-8').send(asset('inbox.css')));
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    analytics.metrics.outboxDepth.set(analytics.state.outboxDepth());
    return reply.type(analytics.metrics.registry.contentType).send(await analytics.metrics.registry.metrics());
  });
  return app;
}
