import { createHmac } from 'node:crypto';
import type { Trigger } from '../../protocol/trigger.ts';
import type { DeliveryResult, Sink } from './types.ts';

/** `sha256=<hex HMAC-SHA256 of the body>` with the shared secret: what X-Signature carries. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function retryAfterMs(v: string | null): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * POSTs each trigger as JSON. 2xx (and 409: the receiver has it already) is delivered; 408,
 * 425, 429, 5xx, timeouts and network errors are retried; any other 4xx is final (the
 * receiver refuses this body, sending it again will not help).
 */
export function webhookSink(url: string, secret: string, timeoutMs: number, name = 'webhook'): Sink {
  return {
    name,
    async deliverTrigger(t: Trigger): Promise<DeliveryResult> {
      const body = JSON.stringify(t);
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'x-signature': signBody(secret, body),
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
      return { ok: false, retry, error: `HTTP ${res.status}`, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
    },
  };
}
