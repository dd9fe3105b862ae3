import { UsageGatewayError } from '../protocol/errors.ts';

/**
 * What a failed command prints: always `error GW_ERR_…: words`, never a stack trace. An error
 * without a code (an unforeseen failure of the machine or a bug) is GW_ERR_INTERNAL, with its
 * message and the system error code when there is one (EACCES, ENOSPC…).
 */
export function failureText(err: unknown): string {
  if (err instanceof UsageGatewayError) return `error ${err.code}: ${err.message}\n`;
  const e = err as (Error & { code?: unknown }) | undefined;
  const message = e instanceof Error ? e.message : String(err);
  const sysCode = e instanceof Error && typeof e.code === 'string' && !message.includes(e.code) ? ` (${e.code})` : '';
  return `error GW_ERR_INTERNAL: unexpected failure: ${message}${sysCode}\n`;
}
