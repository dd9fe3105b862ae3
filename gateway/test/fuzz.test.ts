import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { startTestGateway, type TestDevice, type TestGateway } from '../../test/harness/gateway.ts';
import { close, connect, washerCycle } from '../../test/harness/mqtt.ts';
import { connectPacket, mqttPacket, mqttString, remainingLength, subscribePacket, u16 } from '../../test/harness/mqtt-wire.ts';
import { mulberry32 } from '../../test/harness/rng.ts';

// A standing fuzz test of the MQTT boundary: thousands of random and mutated packets over raw
// TCP against a running gateway. Afterwards a real device's reading must still be stored, and
// /healthz must have answered throughout. The seed is fixed so a failure can be replayed;
// UG_FUZZ_SEED picks another one.
const SEED = Number(process.env.UG_FUZZ_SEED ?? 0x5eed_0016);
const SESSIONS = 1_500;
const CONCURRENCY = 12;
/**
 * The one timing bound of the suite, a liveness bound: a gateway answers /healthz in
 * milliseconds, so an answer that takes a whole second means its event loop was held — the
 * failure this test exists to catch (one SUBSCRIBE once held it for minutes). A second leaves
 * room for a loaded machine, a garbage collection and the fuzzing beside it.
 */
const HEALTHZ_BOUND_MS = 1_000;

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)];
const bytes = (rng: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => int(rng, 256)));

/** Well-formed packets a session might send after CONNECT, as device `d` or as a stranger. */
function validPacket(rng: Rng, d: TestDevice, other: TestDevice): Buffer {
  const id = 1 + int(rng, 65_535);
  const topics = [
    `devices/${d.id}/telemetry`, `devices/${d.id}/events`, `devices/${d.id}/status`, `devices/${other.id}/telemetry`,
    '$SYS/x', 'triggers/upsell/r', '#', '+/+', `devices/${d.id}/commands/#`, `devices/${d.id}/rejected`, 'a/b', '',
  ];
  const payloads = [JSON.stringify(washerCycle()), JSON.stringify([washerCycle(), { type: 'cycle' }]), 'online', '{', '', bytes(rng, 40).toString('latin1')];
  switch (int(rng, 9)) {
    case 0: case 1: case 2: { // PUBLISH, QoS 0 to 2 (3 is invalid), retain or not
      const qos = int(rng, 4);
      const body = Buffer.concat([mqttString(pick(rng, topics)), qos > 0 ? u16(id) : Buffer.alloc(0), Buffer.from(pick(rng, payloads))]);
      return mqttPacket(0x30 | (qos << 1) | int(rng, 2), body);
    }
    case 3: { // SUBSCRIBE, now and then with thousands of the device's own filters
      if (rng() < 0.05) return subscribePacket(id, Array.from({ length: 2_000 + int(rng, 3_000) }, (_, i) => `devices/${d.id}/commands/${i}`), 1);
      return subscribePacket(id, Array.from({ length: 1 + int(rng, 40) }, () => pick(rng, topics)), int(rng, 3));
    }
    case 4: return mqttPacket(0xa2, Buffer.concat([u16(id), ...Array.from({ length: 1 + int(rng, 4) }, () => mqttString(pick(rng, topics)))]));
    case 5: return mqttPacket(pick(rng, [0x40, 0x50, 0x62, 0x70]), u16(id)); // PUBACK, PUBREC, PUBREL, PUBCOMP
    case 6: return mqttPacket(0xc0, Buffer.alloc(0)); // PINGREQ
    case 7: return mqttPacket(0xe0, Buffer.alloc(0)); // DISCONNECT
    default: return connectPacket({ clientId: d.id, username: d.id, password: 'x' }); // a second CONNECT [MQTT-3.1.0-2]
  }
}

/** A packet changed the ways a broken or hostile client would change it. */
function mutate(rng: Rng, p: Buffer): Buffer {
  const b = Buffer.from(p);
  switch (int(rng, 8)) {
    case 0: for (let i = 0, n = 1 + int(rng, 4); i < n; i++) b[int(rng, b.length)] ^= 1 << int(rng, 8); return b;
    case 1: b[int(rng, b.length)] = int(rng, 256); return b;
    case 2: return b.subarray(0, int(rng, b.length)); // cut short
    case 3: return Buffer.concat([b, bytes(rng, 1 + int(rng, 64))]); // trailing garbage
    case 4: b[0] = (b[0] & 0xf0) | int(rng, 16); return b; // fixed-header flags
    case 5: b[0] = (int(rng, 16) << 4) | (b[0] & 0x0f); return b; // packet type, 0 and 15 included
    case 6: { // a remaining length that lies: smaller, larger, or up to the 4-byte maximum
      let i = 1;
      while (i < b.length && b[i] & 0x80) i++;
      const len = pick(rng, [0, 1, int(rng, 300), 127, 128, 16_383, 16_384, 268_435_455]);
      return Buffer.concat([b.subarray(0, 1), Buffer.from(remainingLength(len)), b.subarray(i + 1)]);
    }
    default: return Buffer.concat([b, p]); // sent twice in one write
  }
}

/** A CONNECT that may be well-formed with good or bad credentials, mutated, or noise. */
function openingPacket(rng: Rng, devices: TestDevice[]): { bytes: Buffer; trusted: boolean } {
  const d = pick(rng, devices);
  switch (int(rng, 5)) {
    case 0: case 1: return { bytes: connectPacket({ clientId: d.id, username: d.id, password: d.secret, clean: rng() < 0.5, keepalive: 1 + int(rng, 600) }), trusted: true };
    case 2: return { bytes: mutate(rng, connectPacket({ clientId: d.id, username: d.id, password: d.secret, clean: rng() < 0.5, will: { topic: `devices/${d.id}/status`, payload: 'offline', qos: int(rng, 4), retain: rng() < 0.5 } })), trusted: false };
    case 3: return { bytes: connectPacket({ clientId: bytes(rng, int(rng, 30)).toString('latin1'), username: bytes(rng, int(rng, 100)), password: bytes(rng, int(rng, 100)) }), trusted: false };
    default: return { bytes: bytes(rng, 1 + int(rng, 200)), trusted: false };
  }
}

interface Session {
  localAddress: string;
  /** The bytes, in the pieces they are written in. */
  pieces: Buffer[];
  packets: number;
}

/** One connection: an opening, then up to 15 packets, to be written in pieces cut at random. */
function planSession(rng: Rng, devices: TestDevice[]): Session {
  const opening = openingPacket(rng, devices);
  // Sessions that log in properly come from their own address, so that the throttling the
  // others earn (bad credentials) does not lock them out.
  const localAddress = opening.trusted ? '127.0.0.100' : `127.0.0.${101 + int(rng, 50)}`;
  const packets = [opening.bytes];
  const d = pick(rng, devices);
  const other = pick(rng, devices.filter((x) => x !== d));
  for (let i = 0, k = int(rng, 16); i < k; i++) {
    const p = validPacket(rng, d, other);
    packets.push(rng() < 0.6 ? mutate(rng, p) : p);
  }
  const stream = Buffer.concat(packets);
  const cuts = [0, ...Array.from({ length: int(rng, 4) }, () => int(rng, stream.length)).sort((a, b) => a - b), stream.length];
  return { localAddress, pieces: cuts.slice(1).map((end, i) => stream.subarray(cuts[i], end)), packets: packets.length };
}

function runSession(port: number, s: Session): Promise<void> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ port, host: '127.0.0.1', localAddress: s.localAddress });
    sock.on('error', () => {});
    sock.on('data', () => {}); // read what the gateway answers, so it is never held up writing
    const done = setTimeout(() => sock.destroy(), 3_000);
    sock.once('close', () => {
      clearTimeout(done);
      resolve();
    });
    sock.once('connect', () => {
      for (const piece of s.pieces) sock.write(piece);
      sock.end();
    });
  });
}

/**
 * Polls /healthz from a thread of its own until told to stop, and reports each answer's time:
 * the gateway runs in the test's process, and a poller on the same event loop would be held
 * by the same stall it is there to see.
 */
const POLLER = `
const { parentPort, workerData } = require('node:worker_threads');
let polling = true;
parentPort.once('message', () => { polling = false; });
(async () => {
  const answers = [];
  while (polling) {
    const started = performance.now();
    let status = 0;
    try {
      const res = await fetch(workerData.url, { signal: AbortSignal.timeout(300000) });
      await res.arrayBuffer();
      status = res.status;
    } catch {}
    answers.push({ ms: performance.now() - started, status });
    await new Promise((r) => setTimeout(r, 50));
  }
  parentPort.postMessage(answers);
})();
`;

function pollHealthz(url: string): { stop(): Promise<Array<{ ms: number; status: number }>> } {
  const worker = new Worker(POLLER, { eval: true, workerData: { url } });
  const answers = new Promise<Array<{ ms: number; status: number }>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const a = await answers;
      await worker.terminate();
      return a;
    },
  };
}

let t: TestGateway;
before(async () => { t = await startTestGateway({ overrides: { mqtt: { connectTimeoutMs: 2_000 } } }); });
after(async () => { await t.stop(); });

describe('fuzzing the MQTT boundary', () => {
  it(`${SESSIONS} connections of random and mutated packets (seed ${SEED}): /healthz answers throughout, and a device is served afterwards`, { timeout: 120_000 }, async (ctx) => {
    const devices = await Promise.all(Array.from({ length: 6 }, () => t.addDevice()));
    // Made before the clock starts: the gateway runs in this process, so the fuzzer's own
    // work must not count against its liveness.
    const rng = mulberry32(SEED);
    const sessions = Array.from({ length: SESSIONS }, () => planSession(rng, devices));
    const packets = sessions.reduce((n, s) => n + s.packets, 0);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();

    const poller = pollHealthz(`${t.httpUrl}/healthz`);

    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < SESSIONS) await runSession(t.mqttPort, sessions[next++]);
    }));
    const answers = await poller.stop();
    loop.disable();
    const healthz = answers.map((a) => a.ms);

    ctx.diagnostic(`${packets} packets in ${SESSIONS} connections; /healthz answered ${healthz.length} times, slowest ${Math.max(...healthz).toFixed(1)} ms; event loop delay max ${(loop.max / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms`);
    assert.ok(packets >= 3_000, `a few thousand packets (${packets})`);
    // How many answers depends on how long the fuzzing takes (about a second on an idle machine,
    // ten on a busy one); a few show the poller ran alongside it.
    assert.ok(healthz.length >= 3, `/healthz was polled while the fuzzing ran (${healthz.length} answers)`);
    assert.deepEqual(answers.filter((a) => a.status !== 200), [], 'every /healthz answer is 200');
    const slow = healthz.filter((ms) => ms >= HEALTHZ_BOUND_MS);
    assert.deepEqual(slow, [], `every /healthz answer within ${HEALTHZ_BOUND_MS} ms`);

    // A real device, as firmware would connect, is served as before.
    const real = await t.addDevice();
    const client = await connect(t.mqttUrl, real.id, real.secret);
    await client.publishAsync(`devices/${real.id}/telemetry`, JSON.stringify(washerCycle({ ts: Date.now() - 1_000, seq: 1 })), { qos: 1 });
    await close(client);
    assert.equal(await t.waitForCount('washer_cycle', 1, { where: `device_id = '${real.id}'` }), 1);
  });
});
