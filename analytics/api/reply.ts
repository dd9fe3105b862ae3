import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ErrorCode } from '../../protocol/errors.ts';

/** What every route answers with, shared by the route plugins of routes/. */

const STATUS: Partial<Record<ErrorCode, number>> = {
  GW_ERR_UNAUTHORIZED: 401, GW_ERR_BAD_REQUEST: 400, GW_ERR_TRIGGER_UNKNOWN: 404, GW_ERR_DEVICE_UNKNOWN: 404, GW_ERR_USAGE: 400, GW_ERR_NOT_FOUND: 404,
};

/** Answers with the API's error form: `{ error: { code, message, details? } }` and the code's HTTP status. */
export function fail(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown) {
  return reply.code(STATUS[code] ?? 500).send({ error: { code, message, ...(details ? { details } : {}) } });
}

/**
 * zod issues as `field: problem` lines a person can act on; an unknown field named in `refused`
 * gets that explanation instead of "unknown field".
 */
export function issues(err: z.ZodError, refused: Record<string, string> = {}): Array<{ field: string; problem: string }> {
  return err.issues.flatMap((i) => {
    if (i.code !== 'unrecognized_keys') return [{ field: i.path.join('.') || '(body)', problem: i.message }];
    const prefix = i.path.length ? `${i.path.join('.')}.` : '';
    return i.keys.map((k) => ({ field: `${prefix}${k}`, problem: Object.hasOwn(refused, k) ? refused[k] : `unknown field "${k}"` }));
  });
}

/** The error form, for the OpenAPI description. */
export const errorSchema = { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } } };

/** A zod schema as JSON Schema, for the OpenAPI description (validation stays zod's). */
export const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;

/** The OpenAPI tag a route is listed under. */
export const tags = (t: string) => ({ tags: [t] });
