import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../../protocol/topics.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import type { DeliveryResult, Sink } from './types.ts';

/**
 * Publishes each trigger on `triggers/{category}/{ruleId}` with QoS 1, as the registry's
 * analytics identity (the only role the broker lets publish there). Delivered once the broker
 * acknowledged (PUBACK); the outbox retries otherwise.
 */
export function mqttSink(url: string, username: string, password: string, timeoutMs = 10_000): Sink {
  let client: MqttClient | undefined;
  const connect = () => {
    client ??= mqtt.connect(url, {
      clientId: `${username}:${process.pid}`, username, password, protocolVersion: 4,
      reconnectPeriod: 1_000, connectTimeout: timeoutMs, clean: true,
    });
    client.on('error', () => {}); // reported through the failed publishes
    return client;
  };
  return {
    name: 'mqtt',
    async deliverTrigger(t: Trigger): Promise<DeliveryResult> {
      const c = connect();
      try {
        if (!c.connected) {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`not connected to ${url} within ${timeoutMs} ms`)), timeoutMs);
            c.once('connect', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
        await Promise.race([
          c.publishAsync(topics.trigger(t.category, t.ruleId), JSON.stringify(t), { qos: 1 }),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs).unref()),
        ]);
        return { ok: true };
      } catch (err) {
        return { ok: false, retry: true, error: (err as Error).message };
      }
    },
    async close() {
      await client?.endAsync(true);
      client = undefined;
    },
  };
}
