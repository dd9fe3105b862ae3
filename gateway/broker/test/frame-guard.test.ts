import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { FrameGuard } from '../frame-guard.ts';
import { until } from '../../../test/harness/durability.ts';
import { mqttPacket, mqttString } from '../../../test/harness/mqtt-wire.ts';

/** A QoS 0 PUBLISH of `payload` on `t`. */
const publish = (payload: string) => mqttPacket(0x30, Buffer.concat([mqttString('t'), Buffer.from(payload)]));

/** A connected pair of loopback sockets: what the device writes, and the gateway's end. */
async function socketPair(): Promise<{ device: Socket; gateway: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const device = connect((server.address() as { port: number }).port, '127.0.0.1');
  const [gateway] = (await accepted) as [Socket];
  await once(device, 'connect');
  return { device, gateway, close: () => { device.destroy(); gateway.destroy(); server.close(); } };
}

test('with the gate closed a connection hands on nothing; once open, all it sent meanwhile comes in one slice, not one message per turn', async () => {
  const { device, gateway, close } = await socketPair();
  try {
    const waiters: Array<() => void> = [];
    const gate = { closed: true, whenOpen: (resume: () => void) => { waiters.push(resume); } };
    const guard = new FrameGuard(gateway, { maxPacketBytes: 1024, maxFiltersPerSubscribe: 8, onTooLarge() {}, onTooManyFilters() {}, gate });
    const chunks: Buffer[] = [];
    guard.on('data', (c: Buffer) => chunks.push(c));
    const packets = Array.from({ length: 5 }, (_, i) => publish(`{"seq":${i}}`));
    // A device trickling messages, each its own TCP segment, while the gateway takes nothing.
    device.write(packets[0]);
    await until(() => waiters.length === 1, 'the connection parked at the closed gate', 5_000, 5);
    for (let i = 1; i < packets.length; i++) {
      const before = gateway.readableLength;
      device.write(packets[i]);
      await until(() => gateway.readableLength > before, 'the message in the socket\'s buffer', 5_000, 5);
    }
    assert.equal(chunks.length, 0, 'nothing handed on while the gate is closed');
    gate.closed = false;
    waiters.shift()!();
    const total = packets.reduce((n, p) => n + p.length, 0);
    await until(() => chunks.reduce((n, c) => n + c.length, 0) === total, 'every byte handed on', 5_000, 5);
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(packets), 'every byte, in order');
    assert.equal(chunks.length, 2, `the first message (held while the gate was closed), then the four sent meanwhile together; got ${chunks.length} slices`);
  } finally {
    close();
  }
});

test('a slice is at most 4 KiB: a connection with more to hand on waits for the broker to ask again', async () => {
  const { device, gateway, close } = await socketPair();
  try {
    const gate = { closed: false, whenOpen: (resume: () => void) => resume() };
    const guard = new FrameGuard(gateway, { maxPacketBytes: 1024, maxFiltersPerSubscribe: 8, onTooLarge() {}, onTooManyFilters() {}, gate });
    const chunks: Buffer[] = [];
    guard.on('data', (c: Buffer) => chunks.push(c));
    const bytes = Buffer.concat(Array.from({ length: 100 }, (_, i) => publish(`{"seq":${i},"pad":"${'x'.repeat(200)}"}`)));
    device.write(bytes);
    await until(() => chunks.reduce((n, c) => n + c.length, 0) === bytes.length, 'every byte handed on', 5_000, 5);
    assert.deepEqual(Buffer.concat(chunks), bytes);
    assert.ok(chunks.every((c) => c.length <= 4096), `slices of ${chunks.map((c) => c.length).join(', ')} bytes`);
    assert.ok(chunks.length >= Math.ceil(bytes.length / 4096));
  } finally {
    close();
  }
});
