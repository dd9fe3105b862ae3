import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { SENSITIVE_CATEGORIES } from '../../../protocol/registry.ts';
import { TRIGGER_CATEGORIES } from '../../../protocol/topics.ts';
import { feedbackInputSchema, TRIGGER_STATUSES, triggerSchema, type Feedback } from '../../../protocol/trigger.ts';
import type { TriggerRecord } from '../../store/state.ts';
import type { ApiDeps } from '../deps.ts';
import { errorSchema, fail, issues, json, tags } from '../reply.ts';

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

/** Fields a feedback body may not carry, and why. */
const FEEDBACK_REFUSED = {
  at: 'the time of a feedback is the time the API receives it and cannot be set; leave "at" out',
};

/** A stored trigger as the API shows it: the trigger, its status, feedback and deliveries. */
const triggerView = (r: TriggerRecord) => ({ ...r.trigger, sensitive: SENSITIVE_CATEGORIES.includes(r.trigger.category), status: r.status, feedback: r.feedback, delivery: r.delivery });

/** Triggers: the list with its filters, one trigger, and the feedback on one. */
export const triggerRoutes: FastifyPluginAsync<{ analytics: ApiDeps }> = async (app, { analytics }) => {
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
};
