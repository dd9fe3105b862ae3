import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeReadings } from '../../../protocol/readings.ts';
import { createInfluxStore, readingsToLines, type InfluxStore } from '../../../core/influx/index.ts';
import { until } from '../../../test/harness/durability.ts';
import { testInflux } from '../../../test/harness/influx.ts';
import { washerCycle } from '../../../test/harness/mqtt.ts';
import type { DeadLetter } from '../../deadletter/index.ts';
import { Spool } from '../../spool/index.ts';
import { createLogger } from '../../../core/log.ts';
import type { DeadLetterStore } from '../../deadletter/index.ts';
import { createMetrics } from '../../metrics/index.ts';
import { THREAD_YOUNG_GENERATION_MB, WriterThread } from '../threaded.ts';
import { Writer, type WriterMetrics, type WriterSpool } from '../writer.ts';

/**
 * The writer against a real InfluxDB, on batches whose string fields hold newlines. Every
 * record is in the spool before the writer starts, so the whole spool is one batch: the test
 * decides what InfluxDB is sent at once.
 */
let store: InfluxStore;
let stopInflux: () => Promise<void>;
const dirs: string[] = [];
const DAY = 86_400_000;
// An hour ago: every point of the test falls in one shard, the one the conflicting field is in.
const base = Date.now() - 3_600_000;
const DETAILS = ['line one\nline two', 'a\r\nb', 'carriage\rreturn', 'backslash-n is two characters: \\n', '"quoted"\nand \\ back\\', '\n'];

before(async () => {
  const influx = await testInflux();
  stopInflux = influx.stop;
  store = createInfluxStore({ version: 1, url: influx.url, database: `t_${randomBytes(5).toString('hex')}`, retentionDays: 400, requestTimeoutMs: 10_000, rollups: false });
  await store.ensureDatabase();
});
after(async () => {
  await stopInflux();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A spool holding one record per message: each message's readings as the gateway spools them. */
async function spoolOf(deviceId: string, messages: Array<{ kind: string; channel: 'telemetry' | 'events'; readings: object[] }>): Promise<Spool> {
  const dir = await mkdtemp(join(tmpdir(), 'ug-writer-'));
  dirs.push(dir);
  const spool = new Spool({ dir, maxBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, fsync: false });
  await spool.open();
  for (const m of messages) {
    const res = decodeReadings(Buffer.from(JSON.stringify(m.readings)), { kind: m.kind, channel: m.channel, receivedAtMs: Date.now(), maxAgeMs: 400 * DAY });
    assert.equal(res.errors.length, 0, JSON.stringify(res.errors));
    await spool.append(Buffer.from(readingsToLines(res.readings, { deviceId, kind: m.kind, model: 'WM-8' })), res.readings.length, false);
  }
  return spool;
}

/** Writes the spool out with a writer whose dead letters and points written are kept. */
async function drain(spool: Spool): Promise<{ deadLetters: Array<Omit<DeadLetter, 'time'>>; pointsWritten: number }> {
  const deadLetters: Array<Omit<DeadLetter, 'time'>> = [];
  let pointsWritten = 0;
  const metrics = {
    writeLatency: { observe: () => {} },
    writeBatchLines: { observe: () => {} },
    pointsWritten: { inc: (v = 1) => { pointsWritten += v; } },
    writeRetries: { inc: () => {} },
    deadLettered: { inc: () => {} },
  } as unknown as WriterMetrics;
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  const writer = new Writer({
    spool, store, metrics, log, deadletter: { add: async (e) => { deadLetters.push(e); return true; } },
    batchMaxLines: 10_000, batchMaxBytes: 16 * 1024 * 1024, inFlight: 1, retryMinMs: 10, retryMaxMs: 100, lingerMs: 0,
  });
  writer.start();
  await until(() => spool.committedOffset === spool.endOffset, 'the spool to drain');
  await writer.stop(1_000);
  await spool.close();
  return { deadLetters, pointsWritten };
}

const events = (from: number) => DETAILS.map((detail, i) => ({ type: 'error', ts: base + from + i, seq: from + i, code: 'E21', severity: 'warning', detail }));

async function storedDetails(deviceId: string): Promise<string[]> {
  return (await store.query<{ detail: string }>(`SELECT "detail" FROM "device_event" WHERE "device_id" = '${deviceId}' ORDER BY time`)).map((r) => r.detail);
}

test('an event whose detail holds newlines is stored once, exactly as sent, and counted as one point', { timeout: 60_000 }, async () => {
  const spool = await spoolOf('nl-whole', [{ kind: 'washer', channel: 'events', readings: events(0) }]);
  const { deadLetters, pointsWritten } = await drain(spool);
  assert.deepEqual(deadLetters, []);
  assert.deepEqual(await storedDetails('nl-whole'), DETAILS);
  assert.equal(pointsWritten, DETAILS.length);
});

test('a refused batch holding such events is split by point, not by newline: the good points are stored, only the refused ones dead-lettered', { timeout: 60_000 }, async () => {
  // A string vibration_g stored first makes every later float vibration_g of the shard a field type conflict.
  const poison = await store.write(`washer_cycle,device_id=nl-conflict,kind=washer,model=WM-8 vibration_g="bad" ${base - 1_000}000000`);
  assert.equal(poison.ok, true);
  const bad = [1, 3];
  const cycles = [0, 1, 2, 3].map((seq) => washerCycle({ ts: base + 100 + seq, seq: 100 + seq, ...(bad.includes(seq) ? { vibration_g: 0.5 } : {}) }));
  const spool = await spoolOf('nl-refused', [
    { kind: 'washer', channel: 'events', readings: events(0) },
    { kind: 'washer', channel: 'telemetry', readings: cycles },
    { kind: 'washer', channel: 'events', readings: events(DETAILS.length) },
  ]);
  const { deadLetters, pointsWritten } = await drain(spool);

  assert.deepEqual(await storedDetails('nl-refused'), [...DETAILS, ...DETAILS]);
  const stored = await store.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = 'nl-refused' ORDER BY time`);
  assert.deepEqual(stored.map((r) => r.seq), [100, 102]);
  // Each dead letter is one whole refused point, not a piece of an event cut at its newline.
  assert.deepEqual(deadLetters.map((e) => Number(/ .*\bseq=(\d+)i /.exec(e.line ?? '')?.[1])).sort(), bad.map((s) => 100 + s));
  for (const e of deadLetters) {
    assert.equal(e.code, 'GW_ERR_INFLUX_REFUSED');
    assert.equal(e.deviceId, 'nl-refused');
    assert.match(e.reason, /field type conflict/);
  }
  assert.equal(pointsWritten, 2 * DETAILS.length + cycles.length - bad.length);
});

test('on its own thread, with a young generation of THREAD_YOUNG_GENERATION_MB, the writer stores the spool as its bytes', { timeout: 60_000 }, async () => {
  const cycles = [0, 1, 2].map((seq) => washerCycle({ ts: base + 200 + seq, seq: 200 + seq }));
  const spool = await spoolOf('thread-young', [
    { kind: 'washer', channel: 'telemetry', readings: cycles },
    { kind: 'washer', channel: 'events', readings: events(200) },
  ]);
  const metrics = createMetrics();
  const thread = new WriterThread({
    spool, influx: store.opts, metrics, log: createLogger('silent'),
    deadletter: { add: async () => true } as unknown as DeadLetterStore,
    writer: { batchMaxLines: 10_000, batchMaxBytes: 16 * 1024 * 1024, inFlight: 2, retryMinMs: 10, retryMaxMs: 100, lingerMs: 0 },
  });
  thread.start();
  try {
    assert.equal(thread.resourceLimits()?.maxYoungGenerationSizeMb, THREAD_YOUNG_GENERATION_MB);
    await until(() => spool.committedOffset === spool.endOffset, 'the thread to write the spool out');
  } finally {
    await thread.stop(1_000);
    await spool.close();
  }
  const stored = await store.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = 'thread-young' ORDER BY time`);
  assert.deepEqual(stored.map((r) => r.seq), [200, 201, 202]);
  assert.deepEqual(await storedDetails('thread-young'), DETAILS);
  assert.equal((await metrics.pointsWritten.get()).values[0]?.value, cycles.length + DETAILS.length);
});

/** A writer over `spool` whose reads and writes are seen: what each read returned, each body's points. */
function watchedWriter(spool: Spool, lingerMs: number) {
  const readsWithData: number[] = [];
  const writes: number[] = [];
  const seen: WriterSpool = {
    get committedOffset() { return spool.committedOffset; },
    get endOffset() { return spool.endOffset; },
    read: async (from, lines, bytes) => {
      const records = await spool.read(from, lines, bytes);
      if (records.length > 0) readsWithData.push(records.length);
      return records;
    },
    commit: (end, records) => spool.commit(end, records),
    on: (e, l) => spool.on(e, l),
    off: (e, l) => spool.off(e, l),
    stats: () => spool.stats(),
  } as WriterSpool;
  const metrics = {
    writeLatency: { observe: () => {} },
    writeBatchLines: { observe: (v: number) => { writes.push(v); } },
    pointsWritten: { inc: () => {} },
    writeRetries: { inc: () => {} },
    deadLettered: { inc: () => {} },
  } as unknown as WriterMetrics;
  const writer = new Writer({
    spool: seen, store, metrics, log: { info: () => {}, warn: () => {}, error: () => {} }, deadletter: { add: async () => true },
    batchMaxLines: 10_000, batchMaxBytes: 16 * 1024 * 1024, inFlight: 2, retryMinMs: 10, retryMaxMs: 100, lingerMs,
  });
  return { writer, readsWithData, writes };
}

async function appendCycle(spool: Spool, deviceId: string, seq: number): Promise<void> {
  const res = decodeReadings(Buffer.from(JSON.stringify([washerCycle({ ts: base + 300 + seq, seq })])), { kind: 'washer', channel: 'telemetry', receivedAtMs: Date.now(), maxAgeMs: 400 * DAY });
  await spool.append(Buffer.from(readingsToLines(res.readings, { deviceId, kind: 'washer', model: 'WM-8' })), 1, false);
}

for (const lingerMs of [30_000, 0]) {
  test(`lingerMs ${lingerMs}: readings spooled after the writer read the first ${lingerMs ? 'join its write' : 'go in a write of their own'}`, { timeout: 20_000 }, async () => {
    const deviceId = `linger-${lingerMs}`;
    const spool = await spoolOf(deviceId, []);
    const { writer, readsWithData, writes } = watchedWriter(spool, lingerMs);
    writer.start();
    try {
      await appendCycle(spool, deviceId, 0);
      await until(() => readsWithData.length > 0, 'the writer to read the first reading');
      for (let seq = 1; seq < 5; seq++) await appendCycle(spool, deviceId, seq);
      // Lingering, the batch goes out when stop() drains, long before lingerMs.
      if (lingerMs === 0) await until(() => spool.committedOffset === spool.endOffset, 'the spool to drain');
    } finally {
      await writer.stop(5_000);
    }
    assert.equal(spool.committedOffset, spool.endOffset, 'everything written');
    assert.deepEqual(lingerMs ? writes : [writes[0], writes.reduce((a, b) => a + b, 0)], lingerMs ? [5] : [1, 5]);
    await spool.close();
    const stored = await store.query<{ seq: number }>(`SELECT "seq" FROM "washer_cycle" WHERE "device_id" = '${deviceId}' ORDER BY time`);
    assert.deepEqual(stored.map((r) => r.seq), [0, 1, 2, 3, 4]);
  });
}

test('lingering again and again leaves no listener behind on the writer\'s stop signal', { timeout: 30_000 }, async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const deviceId = 'linger-often';
  const spool = await spoolOf(deviceId, []);
  const { writer, writes } = watchedWriter(spool, 1);
  writer.start();
  try {
    for (let seq = 0; seq < 20; seq++) {
      await appendCycle(spool, deviceId, seq);
      await until(() => spool.committedOffset === spool.endOffset, 'the reading to be written');
    }
  } finally {
    await writer.stop(5_000);
    await spool.close();
    process.off('warning', onWarning);
  }
  assert.equal(writes.reduce((a, b) => a + b, 0), 20);
  assert.ok(writes.length >= 11, `more lingers than an EventTarget's listener limit: ${writes.length} writes`);
  assert.deepEqual(warnings.filter((w) => /MaxListeners|memory leak/i.test(w)), []);
});
