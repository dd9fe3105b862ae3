import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { listDeadLetters } from '../../deadletter/index.ts';
import { startTestGateway, type TestGateway } from '../../../test/harness/gateway.ts';
import { runCli } from '../../../test/harness/process.ts';
import { SerialPort } from 'serialport';
import { BridgeSet, startGatewayBridges, type PortSpec } from '../index.ts';
import { writeFile } from 'node:fs/promises';
import { ptyPair, PtyWriter, startBridgeProcess, until, type PtyPair } from '../../../test/harness/pty.ts';

const log = pino({ level: process.env.UG_TEST_LOG_LEVEL ?? 'silent' });

function cycle(seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'cycle', seq, ts: Date.now() - 60_000 + seq, program: 'cotton', load_kg: 6.5, duration_s: 5400, water_l: 48.5, energy_kwh: 0.9, temp_c: 40, spin_rpm: 1200, ...extra };
}

describe('serial bridge over real pseudo-terminals', () => {
  let gw: TestGateway;
  let dir: string;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    gw = await startTestGateway();
    dir = await mkdtemp(join(tmpdir(), 'ug-serial-'));
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await gw.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function pair(name: string): Promise<PtyPair> {
    const p = await ptyPair(dir, [`${name}-bridge`, `${name}-device`]);
    cleanups.push(() => p.stop());
    return p;
  }

  async function writer(path: string): Promise<PtyWriter> {
    const w = await PtyWriter.open(path);
    cleanups.push(() => w.close());
    return w;
  }

  function spec(path: string, device: { id: string; secret: string }, extra: Partial<PortSpec> = {}): PortSpec {
    return {
      path, baudRate: 115_200, deviceId: device.id, secret: device.secret, format: 'json', fieldMap: {},
      writeBack: false, rtscts: false, reconnect: { minMs: 50, maxMs: 500 },
      ...extra,
      limits: { maxLineBytes: 8_192, queueLines: 100, maxInFlight: 8, partialLineTimeoutMs: 0, ...extra.limits },
    };
  }

  async function bridges(specs: PortSpec[]): Promise<BridgeSet> {
    const set = new BridgeSet(specs, { deadletterDir: gw.config.deadletter.dir, deadletterMaxBytes: gw.config.deadletter.maxBytes, log, mqttUrl: gw.mqttUrl });
    await set.start();
    cleanups.push(() => set.stop(1_000));
    await until('the ports to open', () => set.stats().every((s) => s.portOpen && s.mqttConnected));
    return set;
  }

  test('lines written to the device end arrive in InfluxDB (JSON and key=value ports at once)', async () => {
    const jsonDev = await gw.addDevice({ kind: 'washer' });
    const kvDev = await gw.addDevice({ kind: 'fridge' });
    const p1 = await pair('json');
    const p2 = await pair('kv');
    const set = await bridges([
      spec(p1.a, jsonDev),
      spec(p2.a, kvDev, { format: 'kv', kind: 'fridge', fieldMap: { t: 'temp_c', ft: 'freezer_temp_c' } }),
    ]);
    const w1 = await writer(p1.b);
    const w2 = await writer(p2.b);
    for (let i = 0; i < 5; i++) await w1.write(`${JSON.stringify(cycle(i))}\r\n`);
    await w1.write('{"type":"error","code":"E21","severity":"warning","detail":"drain pump blocked"}\n');
    // Split mid-line across writes, as a UART delivers it.
    await w2.write('# boot: fw 1.4.2\ntype=state t=4.2 ft=-18.5 door_openings=3 door_open_s=41 compres');
    await w2.write('sor_duty=0.42 energy_kwh=0.021 seq=1\n');
    await w2.write('type=error code=F07 severity=critical detail="compressor relay stuck"\n');

    assert.equal(await gw.waitForCount('washer_cycle', 5, { where: `device_id = '${jsonDev.id}'` }), 5);
    assert.equal(await gw.waitForCount('device_event', 1, { where: `device_id = '${jsonDev.id}'` }), 1);
    assert.equal(await gw.waitForCount('fridge_state', 1, { where: `device_id = '${kvDev.id}'` }), 1);
    assert.equal(await gw.waitForCount('device_event', 1, { where: `device_id = '${kvDev.id}'` }), 1);
    const [row] = await gw.query<{ temp_c: number; door_openings: number; compressor_duty: number }>(`SELECT temp_c, door_openings, compressor_duty FROM fridge_state WHERE device_id = '${kvDev.id}'`);
    assert.deepEqual([row.temp_c, row.door_openings, row.compressor_duty], [4.2, 3, 0.42]);
    const [ev] = await gw.query<{ code: string; detail: string }>(`SELECT code, detail FROM device_event WHERE device_id = '${kvDev.id}'`);
    assert.deepEqual([ev.code, ev.detail], ['F07', 'compressor relay stuck']);
    const [s1, s2] = set.stats();
    assert.equal(s1.acknowledged, 6);
    assert.deepEqual(s1.refused, {});
    assert.equal(s2.acknowledged, 2);
    assert.equal(s2.ignored, 1, 'the # comment line is skipped');
  });

  test('the pty pair removed and recreated: the bridge reopens the port and carries on', async () => {
    const dev = await gw.addDevice({ kind: 'washer' });
    let p = await pair('replug');
    const [bridge] = (await bridges([spec(p.a, dev)])).bridges;
    let w = await PtyWriter.open(p.b);
    for (let i = 0; i < 3; i++) await w.write(`${JSON.stringify(cycle(i))}\n`);
    assert.equal(await gw.waitForCount('washer_cycle', 3, { where: `device_id = '${dev.id}'` }), 3);

    await w.close();
    await p.stop(); // "USB unplugged": both links vanish
    await until('the bridge to notice the loss', () => bridge.stats().losses >= 1);
    assert.equal(bridge.stats().portOpen, false);

    p = await pair('replug'); // plugged back in under the same names
    await until('the bridge to reopen the port', () => bridge.stats().opens >= 2 && bridge.stats().portOpen);
    w = await writer(p.b);
    for (let i = 3; i < 6; i++) await w.write(`${JSON.stringify(cycle(i))}\n`);
    assert.equal(await gw.waitForCount('washer_cycle', 6, { where: `device_id = '${dev.id}'` }), 6);
    assert.equal(bridge.stats().acknowledged, 6);
  });

  test('garbage, over-long and cut-off lines are reported and dead-lettered; the next good line goes through', async () => {
    const dev = await gw.addDevice({ kind: 'washer' });
    const p = await pair('noise');
    const [bridge] = (await bridges([spec(p.a, dev, { limits: { maxLineBytes: 512, queueLines: 100, maxInFlight: 8, partialLineTimeoutMs: 1_000 } })])).bridges;
    const w = await writer(p.b);
    const refused = (code: string) => bridge.stats().refused[code] ?? 0;

    await w.write(Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x41, 0x0a])); // line noise, not UTF-8
    await w.write(`${JSON.stringify(cycle(0, { program: 'x'.repeat(3_000) }))}\n`); // one chunk, over the limit
    await w.write('{"type":"cycle","load_kg":\n'); // half a line, ended
    await w.write('x'.repeat(400));
    await w.write(`${'y'.repeat(400)}\n`); // over the limit across writes
    await w.write('{"type":"cycle","prog'); // half a line, then silence
    await until('the cut-off line to be reported', () => refused('GW_ERR_SERIAL_PARTIAL_LINE') === 1);
    await w.write(`${JSON.stringify(cycle(1))}\n`);

    assert.equal(await gw.waitForCount('washer_cycle', 1, { where: `device_id = '${dev.id}'` }), 1);
    await until('every refusal to be dead-lettered', () => bridge.stats().deadLettered === 5);
    assert.deepEqual(bridge.stats().refused, {
      GW_ERR_BAD_UTF8: 1, GW_ERR_SERIAL_LINE_TOO_LONG: 2, GW_ERR_BAD_JSON: 1, GW_ERR_SERIAL_PARTIAL_LINE: 1,
    });
    const entries = await listDeadLetters(gw.config.deadletter.dir, { deviceId: dev.id });
    assert.equal(entries.length, 5);
    for (const e of entries) {
      assert.equal(e.source, 'serial');
      assert.equal(e.topic, `serial:${p.a}`);
      assert.ok(e.reason.length > 10, e.reason);
    }
    const noise = entries.find((e) => e.code === 'GW_ERR_BAD_UTF8')!;
    assert.equal(noise.payloadEncoding, 'base64');
    assert.deepEqual(Buffer.from(noise.payload!, 'base64'), Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x41]));
    const long = entries.filter((e) => e.code === 'GW_ERR_SERIAL_LINE_TOO_LONG').map((e) => e.reason).sort();
    assert.match(long.join('\n'), /line of 800 bytes is longer than the limit of 512/);
    assert.equal(entries.find((e) => e.code === 'GW_ERR_SERIAL_PARTIAL_LINE')!.payload, '{"type":"cycle","prog');
  });

  test('a flooding device is held back by the bounded queue and nothing is lost', async () => {
    const dev = await gw.addDevice({ kind: 'washer' });
    const p = await pair('flood');
    const [bridge] = (await bridges([spec(p.a, dev, { limits: { maxLineBytes: 8_192, queueLines: 4, maxInFlight: 1, partialLineTimeoutMs: 0 } })])).bridges;
    const w = await writer(p.b);
    const lines = Array.from({ length: 300 }, (_, i) => `${JSON.stringify(cycle(i))}\n`).join('');
    await w.write(lines); // ~60 KB in one go: far more than 4 queued readings
    assert.equal(await gw.waitForCount('washer_cycle', 300, { where: `device_id = '${dev.id}'` }), 300);
    const s = bridge.stats();
    assert.ok(s.pauses >= 1, `the port was paused (${s.pauses}×)`);
    // A pty honours the pause, so the queue never overflows and nothing is refused.
    assert.equal(s.acknowledged, 300);
    assert.deepEqual(s.refused, {});
  });

  test('gateway unreachable: stopping keeps the unacknowledged readings in the dead-letter store', async () => {
    const p = await pair('offline');
    const dlDir = join(dir, 'offline-deadletter');
    const set = new BridgeSet([spec(p.a, { id: 'bench-offline', secret: 'x' })], { deadletterDir: dlDir, deadletterMaxBytes: 1 << 20, log, mqttUrl: 'mqtt://127.0.0.1:1' });
    await set.start();
    cleanups.push(() => set.stop(100));
    const [bridge] = set.bridges;
    await until('the port to open', () => bridge.stats().portOpen);
    const w = await writer(p.b);
    for (let i = 0; i < 3; i++) await w.write(`${JSON.stringify(cycle(i))}\n`);
    await until('the lines to be read', () => bridge.stats().lines === 3);
    assert.equal(bridge.stats().acknowledged, 0);
    await set.stop(200);
    assert.deepEqual(bridge.stats().refused, { GW_ERR_SERIAL_UNSENT: 3 });
    const kept = await listDeadLetters(dlDir, { deviceId: 'bench-offline' });
    assert.deepEqual(kept.map((e) => JSON.parse(e.payload!).seq).sort(), [0, 1, 2]);
  });

  test('write-back: a command on devices/{id}/commands/# reaches the device as a line', async () => {
    const dev = await gw.addDevice({ kind: 'washer' });
    const p = await pair('cmd');
    const [bridge] = (await bridges([spec(p.a, dev, { writeBack: true })])).bridges;
    const device = new SerialPort({ path: p.b, baudRate: 115_200 });
    cleanups.push(() => new Promise((r) => (device.isOpen ? device.close(() => r()) : r())));
    let received = '';
    device.on('data', (d: Buffer) => (received += d.toString('utf8')));
    await new Promise((r) => device.once('open', r));
    const aedes = gw.gateway.broker.aedes;
    const publish = (topic: string, payload: string) => new Promise<void>((r) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, () => r()));
    await until('the bridge to subscribe to its commands', () => bridge.stats().subscribed);
    await publish(`devices/${dev.id}/commands/reset`, 'cmd=reset reason=bench');
    await until('the command to arrive', () => received.includes('\n'));
    assert.equal(received.split('\n')[0], 'cmd=reset reason=bench');
    await publish(`devices/${dev.id}/commands/bad`, 'two\nlines');
    await until('the bad command to be refused', () => bridge.stats().commandsRefused === 1);
    assert.ok(bridge.stats().commandsWritten >= 1);
  });

  test('serial.runInGateway: configured ports run inside the gateway over an in-memory connection', async () => {
    const p = await pair('inproc');
    const secretFile = join(dir, 'inproc.secret');
    const g2 = await startTestGateway({
      overrides: { serial: { runInGateway: true, ports: [{ path: p.a, deviceId: 'bench-washer-1', secretFile, reconnect: { minMs: 50, maxMs: 500 } }] } },
    });
    cleanups.push(() => g2.stop());
    const dev = await g2.addDevice({ id: 'bench-washer-1', kind: 'washer' });
    await writeFile(secretFile, `${dev.secret}\n`);
    const set = (await startGatewayBridges(g2.gateway))!;
    cleanups.push(() => set.stop(1_000));
    await until('the port to open and the bridge to connect', () => set.stats().every((s) => s.portOpen && s.mqttConnected));
    const w = await writer(p.b);
    for (let i = 0; i < 4; i++) await w.write(`${JSON.stringify(cycle(i))}\n`);
    await w.write('{"type":"cycle",\n');
    assert.equal(await g2.waitForCount('washer_cycle', 4, { where: `device_id = '${dev.id}'` }), 4);
    await until('the bad line to be dead-lettered', () => set.stats()[0].deadLettered === 1);
    // The bridges' figures are on the gateway's /metrics.
    const metrics = await (await fetch(`${g2.httpUrl}/metrics`)).text();
    const port = `port="${p.a}"`;
    assert.ok(metrics.includes(`ug_serial_lines_total{${port},outcome="acknowledged"} 4`), metrics);
    assert.ok(metrics.includes(`ug_serial_refused_total{${port},reason="GW_ERR_BAD_JSON"} 1`));
    assert.ok(metrics.includes(`ug_serial_port_open{${port}} 1`));
    assert.ok(metrics.includes('ug_deadlettered_total{source="serial"} 1'));
  });

  test('`serial simulate` on one end and `serial` on the other: every line sent arrives', async () => {
    const dev = await gw.addDevice({ kind: 'washer' });
    const p = await pair('sim');
    const env = { UG_DATA_DIR: join(dir, 'cli-data') };
    const bridge = await startBridgeProcess(['--port', p.a, '--device', dev.id, '--secret', dev.secret, '--format', 'kv', '--mqtt-url', gw.mqttUrl], env);
    cleanups.push(async () => bridge.kill());

    const sim = await runCli(['serial', 'simulate', '--port', p.b, '--device', dev.id, '--kind', 'washer', '--seed', '7', '--rate', '500/s', '--count', '80', '--format', 'kv'], env);
    assert.equal(sim.code, 0, sim.stderr);
    const m = /wrote 80 lines \((.*)\) as/.exec(sim.stdout);
    assert.ok(m, sim.stdout);
    const byType = Object.fromEntries(m[1].split(', ').map((s) => s.split(' ').reverse()));
    const cycles = Number(byType.cycle);
    const errors = Number(byType.error ?? 0);
    assert.equal(cycles + errors, 80);

    assert.equal(await gw.waitForCount('washer_cycle', cycles, { where: `device_id = '${dev.id}'` }), cycles);
    assert.equal(await gw.waitForCount('device_event', errors, { where: `device_id = '${dev.id}'` }), errors);
    const { code, stderr } = await bridge.stop();
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`${p.a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} → ${dev.id}: 80 lines, 80 readings acknowledged by the gateway, none refused`));
  });
});
