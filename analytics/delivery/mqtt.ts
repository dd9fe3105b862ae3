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
  let connected: Promise<void> | undefined;
  const connect = () => {
    if (!client) {
      client = mqtt.connect(url, {
        clientId: `${username}:${process.pid}`, username, password, protocolVersion: 4,
        reconnectPeriod: 1_000, connectTimeout: timeoutMs, clean: true,
      });
      client.on('error', () => {}); // reported through the failed publishes
      client.setMaxListeners(100);
    }
    return client;
  };
  /** One wait for the connection, shared by the deliveries in flight. */
  const ready = (c: MqttClient) => {
    if (c.connected) return Promise.resolve();
    connected ??= new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not connected to ${url} within ${timeoutMs} ms`)), timeoutMs);
      c.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    }).finally(() => {
      connected = undefined;
    });
    return connected;
  };
  return {
    name: 'mqtt',
    async deliverTrigger(t: Trigger): Promise<DeliveryResult> {
      const c = connect();
      try {
        await ready(c);
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
