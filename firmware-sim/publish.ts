import mqtt, { type MqttClient } from 'mqtt';
import { UsageGatewayError } from '../protocol/errors.ts';
import { topics } from '../protocol/topics.ts';

/** What the gateway said about one device's messages on devices/{id}/rejected. */
export interface RejectionTally {
  /** Readings refused, summed over the notices received. */
  refused: number;
  notices: number;
}

export interface ConnectOptions {
  url: string;
  deviceId: string;
  secret: string;
  /** Reconnect after a lost connection (live devices do; a backfill worker fails instead). */
  reconnect?: boolean;
  keepaliveS?: number;
  connectTimeoutMs?: number;
  /** Publish `online` on the retained status topic, with `offline` as the will. */
  status?: boolean;
}

/**
 * One simulated device on MQTT, as firmware would connect: client id and username are the
 * device id, the password is its secret (protocol v1), MQTT 3.1.1, QoS 1 for readings. It
 * listens on its own `rejected` topic to count what the gateway refused.
 */
export class DeviceConnection {
  readonly deviceId: string;
  readonly rejections: RejectionTally = { refused: 0, notices: 0 };
  private readonly client: MqttClient;
  private waiters: Array<() => void> = [];
  /** Publishes awaiting PUBACK: mqtt.js keeps them for a reconnect, so without one they must be failed here. */
  private readonly unacked = new Set<(err: Error) => void>();
  private lost: Error | null = null;

  private constructor(client: MqttClient, deviceId: string, reconnect: boolean) {
    this.client = client;
    this.deviceId = deviceId;
    if (!reconnect) {
      client.once('close', () => {
        this.lost = new UsageGatewayError('GW_ERR_SIM_CONNECT', `device ${deviceId} lost its connection with ${this.unacked.size} message(s) unacknowledged`);
        for (const fail of this.unacked) fail(this.lost);
        this.unacked.clear();
      });
    }
    client.on('message', (topic, payload) => {
      if (topic !== topics.rejected(deviceId)) return;
      try {
        const notice = JSON.parse(payload.toString('utf8')) as { refused?: number };
        this.rejections.refused += Number(notice.refused ?? 0);
      } catch {
        this.rejections.refused += 1;
      }
      this.rejections.notices++;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static open(o: ConnectOptions): Promise<DeviceConnection> {
    const status = topics.status(o.deviceId);
    const client = mqtt.connect(o.url, {
      clientId: o.deviceId, username: o.deviceId, password: o.secret, protocolVersion: 4, clean: true,
      keepalive: o.keepaliveS ?? 60, connectTimeout: o.connectTimeoutMs ?? 30_000,
      reconnectPeriod: o.reconnect ? 2_000 + Math.floor(Math.random() * 3_000) : 0,
      ...(o.status ? { will: { topic: status, payload: Buffer.from('offline'), qos: 1, retain: true } } : {}),
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        client.removeAllListeners('connect');
        client.end(true);
        reject(new UsageGatewayError('GW_ERR_SIM_CONNECT', `device ${o.deviceId} cannot connect to ${o.url}: ${err.message}`));
      };
      // Until the device is subscribed and announced, a lost connection fails the open: mqtt.js
      // would otherwise keep the SUBSCRIBE waiting for a reconnect that may never come.
      const onClose = () => fail(new Error(client.connected ? 'connection lost while subscribing' : 'connection closed before CONNACK'));
      client.once('error', fail);
      client.on('close', onClose);
      client.once('connect', async () => {
        client.removeListener('error', fail);
        // A live device logs connection errors and keeps trying; mqtt.js reconnects it.
        client.on('error', () => {});
        const conn = new DeviceConnection(client, o.deviceId, Boolean(o.reconnect));
        try {
          await client.subscribeAsync(topics.rejected(o.deviceId), { qos: 1 });
          if (o.status) await client.publishAsync(status, 'online', { qos: 1, retain: true });
        } catch (err) {
          return fail(err as Error);
        }
        if (settled) return;
        settled = true;
        client.removeListener('close', onClose);
        resolve(conn);
      });
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Publishes at QoS 1; resolves on PUBACK, i.e. once the gateway holds the message durably. */
  publish(topic: string, payload: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.lost) return reject(this.lost);
      this.unacked.add(reject);
      this.client.publish(topic, payload, { qos: 1 }, (err) => {
        this.unacked.delete(reject);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Resolves once `refused` readings have been reported, or after `timeoutMs` (notices may be lost with QoS 0 elsewhere). */
  async awaitRejections(refused: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.rejections.refused < refused && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Closes cleanly (publishing `offline` first when it announced itself). Once the connection is
   * lost, at once: mqtt.js would otherwise wait for the PUBACKs of what it still holds, which
   * never come without a reconnect.
   */
  async close(status = false): Promise<void> {
    if (status && this.client.connected) await this.client.publishAsync(topics.status(this.deviceId), 'offline', { qos: 1, retain: true }).catch(() => {});
    await this.client.endAsync(this.lost !== null).catch(() => {});
  }
}

/** Default broker URL: the configured gateway on this host. */
export function defaultUrl(port: number): string {
  return `mqtt://127.0.0.1:${port}`;
}
