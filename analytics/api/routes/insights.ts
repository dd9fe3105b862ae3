import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { DAY_MS } from '../../../core/time.ts';
import { UsageGatewayError } from '../../../protocol/errors.ts';
import { insightsReportSchema } from '../../../protocol/insights.ts';
import { registryDirectory } from '../../engine/directory.ts';
import { buildInsights, INSIGHT_KINDS } from '../../insights/index.ts';
import type { ApiDeps } from '../deps.ts';
import { errorSchema, fail, json, tags } from '../reply.ts';

const time = z.union([z.iso.date(), z.iso.datetime()]);

const insightsQuery = z.object({
  model: z.string().max(64).optional(),
  kind: z.enum(INSIGHT_KINDS).optional(),
  from: time.optional().describe('start of the period (date or RFC 3339 time); default 90 days before `to`'),
  to: time.optional().describe('end of the period, excluded; default now'),
}).strict();

/** The report's JSON Schema as it is sent (defaults applied), for the OpenAPI description. */
const reportJson = z.toJSONSchema(insightsReportSchema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;

/**
 * `GET /api/insights`: the product-insight report as `usage-gateway insights --format json`
 * makes it (schema: protocol/insights.ts), over the registry's devices with the analytics consent.
 */
export const insightsRoutes: FastifyPluginAsync<{ analytics: ApiDeps }> = async (app, { analytics }) => {
  app.get('/api/insights', {
    schema: {
      ...tags('insights'),
      summary: 'Product insights per model: usage, error rates by usage band and firmware with intervals, owners outgrowing their model, trends; aggregates of devices with the analytics consent, nothing from fewer than insights.minDevices devices (schema: protocol/insights.ts)',
      querystring: json(insightsQuery),
      response: { 200: { ...reportJson, additionalProperties: true }, 400: errorSchema },
    },
  }, async (req, reply) => {
    const q = insightsQuery.safeParse(req.query);
    if (!q.success) return fail(reply, 'GW_ERR_BAD_REQUEST', `invalid query parameters: ${q.error.issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`).join('; ')}`);
    const toMs = q.data.to ? Date.parse(q.data.to) : Date.now();
    const fromMs = q.data.from ? Date.parse(q.data.from) : toMs - 90 * DAY_MS;
    if (!(toMs > fromMs)) return fail(reply, 'GW_ERR_BAD_REQUEST', 'the period is empty: "to" must be after "from"');
    await analytics.registry.refresh();
    try {
      return await buildInsights(
        { store: analytics.influx, catalogue: analytics.catalogue, directory: registryDirectory(analytics.registry) },
        { fromMs, toMs, model: q.data.model, kind: q.data.kind, minDevices: analytics.config.insights.minDevices, pageSize: analytics.config.analytics.pageSize },
      );
    } catch (err) {
      if (err instanceof UsageGatewayError && (err.code === 'GW_ERR_MODEL_UNKNOWN' || err.code === 'GW_ERR_USAGE')) return fail(reply, 'GW_ERR_BAD_REQUEST', err.message);
      throw err;
    }
  });
};
