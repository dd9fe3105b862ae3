import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createInfluxStore } from '../../core/influx/index.ts';
import { processEnv, type ProcessEnv } from '../../test/harness/process-env.ts';
import { startGatewayProcess, type GatewayProcess } from '../../test/harness/process.ts';
import { provisionDevices, scrapeMetrics, until } from '../../test/harness/durability.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { RawMqtt } from '../../test/harness/raw-mqtt.ts';

// Gateways in child processes started under a small open-file limit (`ulimit -n 256`), as a
// host with a low limit would run them. Idle connections come from loopback addresses of
// their own (127.0.0.x), the real device from 127.0.0.1.
const FILE_LIMIT = 256;

const running: Array<{ gw: GatewayProcess; p: ProcessEnv }> = [];
after(async () => {
  for (const { gw, p } of running) {
    await gw.kill('SIGKILL');
    await p.cleanup();
  }
});

async function start(env: NodeJS.ProcessEnv = {}) {
  const p = await processEnv({ UG_MQTT_CONNECT_TIMEOUT_MS: '4000', ...env });
  const [device] = await provisionDevices(p.dir, [`fd-${running.length}`]);
  const gw = await startGatewayProcess(p.env, { openFileLimit: FILE_LIMIT });
  running.push({ gw, p });
  const store = createInfluxStore({ url: p.influxUrl, database: p.database, retentionDays: 400, requestTimeoutMs: 30_000 });
  const http = `http://127.0.0.1:${gw.httpPort}`;
  /** The device publishes one reading from 127.0.0.1, and it reaches InfluxDB. */
  const deviceStores = async (seq: number) => {
    const client = await connect(`mqtt://127.0.0.1:${gw.mqttPort}`, device.id, device.secret);
    await client.publishAsync(`devices/${device.id}/telemetry`, JSON.stringify(washerCycle({ seq, ts: Date.now() - 1_000 })), { qos: 1 });
    await close(client);
    await until(async () => (await store.query<{ n: number }>(`SELECT count("seq") AS n FROM "washer_cycle" WHERE "device_id" = '${device.id}'`))[0]?.n === seq, `reading ${seq} in InfluxDB`, 30_000, 200);
  };
  return { gw, http, deviceStores };
}

/** Opens `n` connections from `localAddress` that never send a byte. */
function idle(port: number, n: number, localAddress: string): Promise<RawMqtt[]> {
  return Promise.all(Array.from({ length: n }, () => RawMqtt.open(port, { localAddress })));
}

const metric = async (http: string, key: string) => (await scrapeMetrics(http)).get(key) ?? 0;

describe('connection caps derived from the open-file limit', () => {
  it('one address cannot take every descriptor: its cap is well under the limit, refusals are logged and counted, idle connections time out', async () => {
    const { gw, http, deviceStores } = await start();
    // As many idle connections from one address as the process may open files.
    const socks = await idle(gw.mqttPort, FILE_LIMIT, '127.0.0.2');
    // Meanwhile a device from another address is served.
    await deviceStores(1);

    const limits = gw.logs.find((l) => l.msg === 'connection limits') as { openFileLimit: number; maxConnections: number; maxConnectionsPerIp: number } | undefined;
    assert.ok(limits, 'the derived limits are logged at start');
    assert.equal(limits.openFileLimit, FILE_LIMIT);
    assert.ok(limits.maxConnections < FILE_LIMIT, 'room is left for files, InfluxDB and HTTP');
    assert.ok(limits.maxConnectionsPerIp <= limits.maxConnections / 2, 'one address gets at most half of them');
    const refused = FILE_LIMIT - limits.maxConnectionsPerIp;
    await until(async () => (await metric(http, 'ug_connections_refused_total{reason="per-address-limit"}')) === refused, `${refused} refusals counted`, 30_000, 100);
    const logged = gw.logs.filter((l) => l.code === 'GW_ERR_TOO_MANY_CONNECTIONS');
    assert.equal(logged.length, 1, 'logged once for the address in this interval');
    assert.equal(logged[0].remoteAddress, '127.0.0.2');

    // The idle ones never sent CONNECT: closed after mqtt.connectTimeoutMs, and counted.
    await Promise.all(socks.map((s) => s.closed));
    await until(async () => (await metric(http, 'ug_connections_refused_total{reason="connect-timeout"}')) === limits.maxConnectionsPerIp, 'timed-out connections counted', 30_000, 100);
    assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_CONNECT_TIMEOUT' && l.remoteAddress === '127.0.0.2'), 'the timeouts are logged');
  });

  it('with caps set above the limit, connections that would exhaust the descriptors are refused by the gateway, logged and counted; it stays up', async () => {
    const { gw, http, deviceStores } = await start({ UG_MQTT_MAX_CONNECTIONS: '100000', UG_MQTT_MAX_CONNECTIONS_PER_IP: '100000' });
    assert.ok(gw.logs.some((l) => l.level === 40 && /open-file limit/.test(String(l.msg))), 'a warning at start says the caps exceed the open-file limit');
    const socks = await idle(gw.mqttPort, FILE_LIMIT + 50, '127.0.0.3');
    await until(async () => (await metric(http, 'ug_connections_refused_total{reason="no-file-descriptors"}')) > 0, 'refusals for lack of descriptors counted', 30_000, 100);
    assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_NO_FILE_DESCRIPTORS'), 'and logged');
    // Descriptors are kept for the HTTP side meanwhile.
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    await Promise.all(socks.map((s) => s.closed));
    await deviceStores(1);
    assert.equal(gw.child.exitCode, null, 'the gateway is still running');
  });
});
