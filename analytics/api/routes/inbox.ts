import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

const INBOX = new URL('../inbox/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, INBOX), 'utf8');

/** The trigger inbox: plain HTML, one script, one stylesheet; no build step. Public (guard.ts). */
export const inboxRoutes: FastifyPluginAsync = async (app) => {
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/inbox'));
  app.get('/inbox', { schema: { hide: true } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send(asset('index.html')));
  app.get('/inbox/inbox.js', { schema: { hide: true } }, async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(asset('inbox.js')));
  app.get('/inbox/inbox.css', { schema: { hide: true } }, async (_req, reply) => reply.type('text/css; charset=utf-8').send(asset('inbox.css')));
};
