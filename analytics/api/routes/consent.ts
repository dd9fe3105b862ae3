import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { UsageGatewayError } from '../../../protocol/errors.ts';
import { CONSENT_PURPOSES } from '../../../protocol/registry.ts';
import type { ApiDeps } from '../deps.ts';
import { errorSchema, fail, issues, json, tags } from '../reply.ts';

const consentBody = z.object({ consent: z.array(z.enum(CONSENT_PURPOSES)) }).strict();

const consentJson = { type: 'object', properties: { deviceId: { type: 'string' }, owner: { type: 'string' }, ownerSince: { type: 'string' }, consent: { type: 'array', items: { type: 'string' } } } };

/**
 * A device owner's consent: read, replace, and its history. `actor` is who a change is recorded
 * as (the token's fingerprint).
 */
export const consentRoutes: FastifyPluginAsync<{ analytics: ApiDeps; actor: string }> = async (app, { analytics, actor }) => {
  const consentView = (id: string) => {
    const d = analytics.registry.device(id);
    if (!d) throw new UsageGatewayError('GW_ERR_DEVICE_UNKNOWN', `no device "${id}" in the registry`);
    return { deviceId: d.id, owner: d.owner, ownerSince: d.ownerSince, consent: d.consent };
  };

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
    await analytics.registry.setConsent(req.params.id, body.data.consent, { source: 'api', actor });
    return consentView(req.params.id);
  });

  app.get<{ Params: { id: string } }>('/api/devices/:id/consent/history', {
    schema: { ...tags('consent'), summary: "Every consent change of a device: when, the consent from then on, owner, source (cli, api, import) and actor", response: { 404: errorSchema } },
  }, async (req) => {
    await analytics.registry.refresh();
    consentView(req.params.id);
    return { deviceId: req.params.id, history: analytics.registry.device(req.params.id)!.consentHistory ?? [] };
  });
};
