import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

const execFileP = promisify(execFile);

/** Connects with mqtt.js; rejects with the CONNACK error (e.g. code 4 or 5) when refused. */
export function connect(url: string, id: string, secret: string | undefined, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: id, username: secret === undefined ? undefined : id, password: secret,
      reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4, ...opts,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    // A server that closes the socket without a CONNACK gives 'close' and no 'error'.
    client.once('close', () => {
      client.end(true);
      reject(new Error('the connection closed before CONNACK'));
    });
  });
}

export async function close(client: MqttClient): Promise<void> {
  await client.endAsync();
}

/** Resolves with the next message on `topic` (the client must be subscribed). */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(payload);
    };
    client.on('message', onMessage);
  });
}

/** Resolves when the broker closes the client's connection. */
export function closed(client: MqttClient, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** mosquitto_pub, as firmware engineers use it. */
export async function mosquittoPub(port: number, id: string, secret: string, topic: string, message: string, qos = 1): Promise<{ code: number; stderr: string }> {
  try {
    const r = await execFileP('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', id, '-u', id, '-P', secret, '-q', String(qos), '-t', topic, '-m', message], { timeout: 20_000 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stderr: e.stderr ?? String(err) };
  }
}

/** mosquitto_sub for one message or until it exits; returns what it printed. */
export async function mosquittoSub(port: number, id: string, secret: string, topic: string, extra: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', id, '-u', id, '-P', secret, '-t', topic, '-W', '3', ...extra], { timeout: 20_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

export function washerCycle(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'cycle', program: 'cotton', load_kg: 6.5, duration_s: 5400, water_l: 48.5, energy_kwh: 0.9, temp_c: 40, spin_rpm: 1200, ...extra };
}

/** SUBSCRIBE and return the granted QoS per filter (128 = refused), refusals included. */
export async function grantedQos(client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}
