import type { Duplex } from 'node:stream';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { topics, type ReadingChannel } from '../../protocol/topics.ts';
import type { Logger } from '../../core/log.ts';

export interface PublisherOptions {
  deviceId: string;
  secret: string;
  /** Broker URL (mqtt://, mqtts://, ws://); or `connectStream` for an in-process broker. */
  url?: string;
  /** Opens a fresh connection to the broker; called again on every reconnect. */
  connectStream?: () => Duplex;
  /** Subscribe to devices/{id}/commands/# and hand each message to onCommand. */
  commands: boolean;
  onCommand(sub: string, payload: Buffer): void;
  /** A notice on devices/{id}/rejected: the gateway refused (part of) a message. */
  onRejected(notice: Record<string, unknown>): void;
  log: Logger;
}

/**
 * The bridge's MQTT side: it connects as the device (clientId = username = device id, the
 * device secret as password), like any device, with an `offline` will on its status topic.
 * mqtt.js keeps unacknowledged QoS 1 messages and sends them again after a reconnect.
 */
export class Publisher {
  private readonly options: PublisherOptions;
  private client?: MqttClient;
  /** Rejecters of publishes not yet acknowledged: mqtt.js keeps them for ever while it may reconnect. */
  private readonly unacked = new Set<(err: Error) => void>();
  /** The broker granted the subscriptions of the current connection (rejected, commands). */
  subscribed = false;

  constructor(opts: PublisherOptions) {
    if (!opts.url === !opts.connectStream) throw new Error('give exactly one of url and connectStream');
    this.options = opts;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const { deviceId, secret, log } = this.options;
    const clientOptions: IClientOptions = {
      clientId: deviceId,
      username: deviceId,
      password: secret,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      keepalive: 30,
      will: { topic: topics.status(deviceId), payload: Buffer.from('offline'), qos: 1, retain: true },
    };
    const client = this.options.url ? mqtt.connect(this.options.url, clientOptions) : new MqttClient(() => this.options.connectStream!(), clientOptions);
    this.client = client;
    let wasConnected = false;
    client.on('connect', () => {
      log.info({ reconnect: wasConnected }, 'connected to the gateway');
      wasConnected = true;
      client.publish(topics.status(deviceId), 'online', { qos: 1, retain: true });
      const filters = [topics.rejected(deviceId), ...(this.options.commands ? [topics.commands(deviceId)] : [])];
      client.subscribe(filters, { qos: 1 }, (err, granted) => {
        const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? [];
        if (err || refused.length > 0) log.warn({ err, refused }, 'the gateway refused a subscription of the bridge');
        else this.subscribed = true;
      });
    });
    client.on('message', (topic, payload) => {
      const prefix = `devices/${deviceId}/`;
      if (!topic.startsWith(prefix)) return;
      const rest = topic.slice(prefix.length);
      if (rest === 'rejected') {
        try {
          this.options.onRejected(JSON.parse(payload.toString('utf8')) as Record<string, unknown>);
        } catch {
          this.options.onRejected({ reason: payload.toString('utf8').slice(0, 200) });
        }
      } else if (rest.startsWith('commands/')) {
        this.options.onCommand(rest.slice('commands/'.length), payload);
      }
    });
    // mqtt.js reports connection failures as 'error' and reconnects by itself.
    client.on('error', (err) => log.warn({ err: err.message, code: (err as { code?: unknown }).code }, 'MQTT connection to the gateway failed; retrying'));
    client.on('close', () => {
      this.subscribed = false;
    });
    client.on('offline', () => {
      if (wasConnected) log.warn({}, 'lost the connection to the gateway; readings wait in the queue');
    });
  }

  /** Resolves once the gateway acknowledged the message (QoS 1 PUBACK: it is in the spool). */
  publish(channel: ReadingChannel, payload: Buffer): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('publisher not started'));
    return new Promise((resolve, reject) => {
      this.unacked.add(reject);
      client.publish(channel === 'events' ? topics.events(this.options.deviceId) : topics.telemetry(this.options.deviceId), payload, { qos: 1 }, (err) => {
        this.unacked.delete(reject);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Says `offline` and disconnects; unacknowledged publishes are failed to their callers. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    if (client.connected) {
      await Promise.race([
        client.publishAsync(topics.status(this.options.deviceId), 'offline', { qos: 1, retain: true }).catch(() => {}),
        new Promise((r) => setTimeout(r, 2_000).unref()),
      ]);
    }
    await client.endAsync(true);
    for (const reject of this.unacked) reject(new Error('disconnected before the gateway acknowledged it'));
    this.unacked.clear();
  }
}
