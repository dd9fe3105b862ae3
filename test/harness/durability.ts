import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { Registry } from '../../core/registry/index.ts';
import { loadCatalogue } from '../../protocol/models.ts';

/** Polls a real condition until it holds; fails with `what` after the timeout. */
export async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The `ug_*` samples of a gateway's /metrics, keyed by name and labels as printed. */
export async function scrapeMetrics(httpUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(ug_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+|NaN)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Registers devices straight in a registry file, for gateways that run in a child process
 * (they read the file at start and notice changes).
 */
export async function provisionDevices(dataDir: string, ids: string[], kind = 'washer', model = 'WM-8'): Promise<Array<{ id: string; secret: string }>> {
  const registry = new Registry(join(dataDir, 'registry.json'), loadCatalogue(DEFAULT_MODELS_PATH));
  await registry.load();
  const made = await registry.addDevices(ids.map((id) => ({ id, kind, model, owner: `owner-${id}`, consent: [] })));
  return made.map((m) => ({ id: m.entry.id, secret: m.secret }));
}

/** UG_* settings for `usage-gateway gateway` in a child process on free ports. */
export function gatewayEnv(o: { dataDir: string; influxUrl: string; database: string; deadlineMs?: number }): NodeJS.ProcessEnv {
  return {
    UG_DATA_DIR: o.dataDir,
    UG_MQTT_PORT: '0',
    UG_MQTT_HOST: '127.0.0.1',
    UG_HTTP_PORT: '0',
    UG_HTTP_HOST: '127.0.0.1',
    UG_INFLUX_URL: o.influxUrl,
    UG_INFLUX_DATABASE: o.database,
    UG_WRITER_RETRY_MIN_MS: '50',
    UG_WRITER_RETRY_MAX_MS: '1000',
    UG_SHUTDOWN_DEADLINE_MS: String(o.deadlineMs ?? 5_000),
  };
}

export interface TrackedMessage {
  /** The caller's number for the message (e.g. its first reading's seq). */
  id: number;
  payload: string;
}

/**
 * Publishes messages in order with up to `window` of them unacknowledged at a time, and
 * records which ones the broker acknowledged (PUBACK for QoS 1). Stops early, without error,
 * when the connection is lost: what was not acknowledged by then is the device's to resend.
 */
export class TrackedPublisher {
  readonly acked = new Set<number>();
  readonly sent = new Set<number>();
  lost = false;
  readonly done: Promise<void>;

  constructor(client: MqttClient, topic: string, messages: TrackedMessage[], opts: { qos?: 0 | 1; window?: number } = {}) {
    const { qos = 1, window = 10 } = opts;
    this.done = new Promise<void>((resolve) => {
      let next = 0;
      let inflight = 0;
      const onClose = () => {
        if (this.lost) return;
        this.lost = true;
        client.end(true); // fails the callbacks of what is still in flight
        resolve();
      };
      client.once('close', onClose);
      const pump = () => {
        while (!this.lost && inflight < window && next < messages.length) {
          const m = messages[next++];
          inflight++;
          this.sent.add(m.id);
          client.publish(topic, m.payload, { qos }, (err) => {
            inflight--;
            if (!err) this.acked.add(m.id);
            if (this.lost) return;
            if (err) return onClose(); // a publish fails only when the connection is gone
            if (next >= messages.length && inflight === 0) {
              client.off('close', onClose);
              resolve();
            } else pump();
          });
        }
      };
      pump();
    });
  }
}
