import type { FastifyInstance } from 'fastify';

/**
 * The Content-Security-Policy of every answer. The inbox and Swagger UI load their scripts and
 * stylesheets from this server and have no inline script or style, so nothing else is allowed;
 * `data:` images are Swagger UI's icons. No page of this server may be framed (clickjacking on the
 * inbox's feedback buttons), nor post a form elsewhere, nor change its base URL.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent on every answer of the analytics API server, whatever the route or the outcome. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-frame-options': 'DENY', // frame-ancestors for browsers that predate it
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
});

/** Adds SECURITY_HEADERS to every answer: call it first, so that even a refusal carries them. */
export function installSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (_req, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
}
