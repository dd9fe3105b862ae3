import { createHmac } from 'node:crypto';
import { parseRetryAfter } from '../../core/retry.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import type { DeliveryResult, Sink } from './types.ts';

/**
 * What X-Signature carries: `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the shared
 * secret, `timestamp` being the X-UG-Timestamp header (Unix seconds). Signing the time with the
 * body lets a receiver refuse a captured delivery sent again later: it checks the signature, then
 * that the timestamp is recent (docs/triggers.md, "Webhook signatures").
 */
export function signWebhook(secret: string, timestamp: number, body: string | Buffer): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * POSTs each trigger as JSON, signed with the time of this attempt (a retry is signed afresh, so
 * it is as recent as the first try). 2xx (and 409: the receiver has it already) is delivered;
 * 408, 425, 429, 5xx, timeouts and network errors are retried; any other 4xx is final (the
 * receiver refuses this body, sending it again will not help).
 */
export function webhookSink(url: string, secret: string, timeoutMs: number, name = 'webhook'): Sink {
  return {
    name,
    async deliverTrigger(t: Trigger): Promise<DeliveryResult> {
      const body = JSON.stringify(t);
      const timestamp = Math.floor(Date.now() / 1000);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'x-ug-timestamp': String(timestamp),
            'x-signature': signWebhook(secret, timestamp, body),
            'idempotency-key': t.id,
            'x-trigger-rule': `${t.ruleId}@${t.ruleVersion}`,
            'user-agent': 'usage-gateway-analytics',
          },
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return { ok: false, retry: true, error: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message) };
      }
      if ((res.status >= 200 && res.status < 300) || res.status === 409) return { ok: true };
      const retry = res.status >= 500 || [408, 425, 429].includes(res.status);
      return { ok: false, retry, error: `HTTP ${res.status}`, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
    },
  };
}
