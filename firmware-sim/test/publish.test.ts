import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { DeviceConnection } from '../publish.ts';

/**
 * A broker that accepts the device and its subscription, then drops the connection at its first
 * PUBLISH without acknowledging it: a gateway gone mid-backfill, which the real one cannot be
 * made to do at a chosen packet.
 */
async function droppingBroker() {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (b: Buffer) => {
      const type = b[0] >> 4;
      if (type === 1) s.write(Buffer.from([0x20, 2, 0, 0])); // CONNACK, accepted
      else if (type === 8) s.write(Buffer.from([0x90, 3, b[2], b[3], 1])); // SUBACK, QoS 1
      else if (type === 3) s.destroy(); // PUBLISH: gone
    });
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return { url: `mqtt://127.0.0.1:${port}`, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

test('a device whose connection is lost with readings unacknowledged fails them and closes at once', { timeout: 10_000 }, async () => {
  const broker = await droppingBroker();
  try {
    const conn = await DeviceConnection.open({ url: broker.url, deviceId: 'wm-lost', secret: 'x' });
    await assert.rejects(conn.publish('devices/wm-lost/telemetry', '[]'), (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'GW_ERR_SIM_CONNECT');
      assert.match(err.message, /lost its connection with 1 message\(s\) unacknowledged/);
      return true;
    });
    // Before, this waited for PUBACKs that could not come: a backfill hung on its last device.
    await conn.close();
  } finally {
    broker.close();
  }
});
