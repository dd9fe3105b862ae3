/**
 * What an InfluxDB server's refusal means, decided once at this edge from its status and text,
 * so that callers branch on the kind and never on the words of a message.
 */
export type InfluxErrorKind =
  | 'database-not-found'
  | 'retention-policy-missing'
  | 'bad-request'
  | 'throttled'
  | 'unavailable';

export class InfluxServerError extends Error {
  constructor(readonly kind: InfluxErrorKind, message: string, readonly status?: number) {
    super(message);
    this.name = 'InfluxServerError';
  }
}

/** The kind of an answer that was not a success (HTTP status, and the server's error text). */
export function classifyInfluxError(status: number | undefined, text: string): InfluxErrorKind {
  if (/database not found|bucket .*not found/i.test(text) || (status === 404 && /not found/i.test(text))) return 'database-not-found';
  if (/retention policy not found/i.test(text)) return 'retention-policy-missing';
  if (status === 429) return 'throttled';
  if (status === undefined || status >= 500 || status === 408) return 'unavailable';
  return 'bad-request';
}
