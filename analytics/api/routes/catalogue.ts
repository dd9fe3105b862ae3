import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { tags } from '../reply.ts';

/** The rule and model catalogues (the inbox's filters). */
export const catalogueRoutes: FastifyPluginAsync<{ analytics: ApiDeps }> = async (app, { analytics }) => {
  app.get('/api/rules', { schema: { ...tags('rules'), summary: 'The rule catalogue' } }, async () =>
    analytics.rules.map((r) => ({ id: r.id, version: r.version, enabled: r.enabled, category: r.category, purpose: r.purpose, kinds: r.kinds, description: r.description.trim(), offer: r.offer, windowDays: r.windowDays, cooldownDays: r.cooldownDays })));
  app.get('/api/models', { schema: { ...tags('rules'), summary: 'The model catalogue (for filters)' } }, async () => analytics.catalogue.models);
};
