import type { FastifyPluginAsync } from 'fastify';
import { OWNER_RE, OWNER_RULE, quoted } from '../../../protocol/ids.ts';
import { ownerReportSchema } from '../../../protocol/owner-report.ts';
import { buildOwnerReport } from '../../report/index.ts';
import type { ApiDeps } from '../deps.ts';
import { errorSchema, fail, json, tags } from '../reply.ts';

/** What is held about an owner, in one report. */
export const ownerRoutes: FastifyPluginAsync<{ analytics: ApiDeps }> = async (app, { analytics }) => {
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
};
