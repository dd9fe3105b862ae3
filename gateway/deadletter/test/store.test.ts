import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../../test/harness/rng.ts';
import { runCli } from '../../../test/harness/process.ts';
import { eraseDeadLetters, listDeadLetters, MAX_ERRORS_PER_ENTRY, DeadLetterStore, type DeadLetter } from '../index.ts';
import { linesBackward, linesForward } from '../lines.ts';
import { assertPrivateStore, mode } from '../../../test/harness/file-modes.ts';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'ug-deadletter-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const folder = (name: string) => join(dir, name);

async function bytesOnDisk(d: string): Promise<number> {
  let total = 0;
  for (const n of await readdir(d)) total += (await stat(join(d, n))).size;
  return total;
}

function entry(deviceId: string, i: number, payloadBytes = 1_000): Omit<DeadLetter, 'time'> & { time: string } {
  return {
    time: `2026-03-0${1 + (i % 3)}T10:00:${String(i % 60).padStart(2, '0')}.000Z`,
    source: 'ingest', code: 'GW_ERR_BAD_JSON', reason: `payload is not valid JSON (${String(i).padStart(4, '0')})`, deviceId,
    topic: `devices/${deviceId}/telemetry`, payload: 'x'.repeat(payloadBytes), payloadEncoding: 'utf8',
  };
}

describe('an entry is bounded by the size of its message, not by its number of faults', () => {
  it('1,000 readings with 7 missing fields each: 20 errors kept and the count of the rest', async () => {
    const d = folder('bounded');
    const store = new DeadLetterStore(d, 64 * 1024 * 1024);
    await store.open();
    const payload = JSON.stringify(Array.from({ length: 1000 }, () => ({ type: 'cycle' })));
    const errors = Array.from({ length: 7000 }, (_, i) => ({
      code: 'GW_ERR_INVALID_READING' as const, index: Math.floor(i / 7), field: `field_${i % 7}`, reason: `field_${i % 7} is required`, expected: 'number',
    }));
    assert.equal(await store.add({ source: 'ingest', code: 'GW_ERR_INVALID_READING', reason: 'reading 0 field load_kg: load_kg is required (and 6999 more)', deviceId: 'wm-1', errors, payload, payloadEncoding: 'utf8' }), true);
    await store.close();
    const [kept] = await listDeadLetters(d);
    assert.equal(kept.errors?.length, MAX_ERRORS_PER_ENTRY);
    assert.deepEqual(kept.errors, errors.slice(0, MAX_ERRORS_PER_ENTRY));
    assert.equal(kept.moreErrors, 7000 - MAX_ERRORS_PER_ENTRY);
    assert.equal(kept.payload, payload, 'the message is kept whole');
    const ratio = (await bytesOnDisk(d)) / Buffer.byteLength(payload);
    assert.ok(ratio < 2, `entry / payload = ${ratio.toFixed(2)}`);
  });

  it('a reason longer than 1,000 characters is cut', async () => {
    const d = folder('reason');
    const store = new DeadLetterStore(d, 64 * 1024 * 1024);
    await store.open();
    await store.add({ source: 'influx', code: 'GW_ERR_INFLUX_REFUSED', reason: 'r'.repeat(50_000), line: 'm f=1' });
    await store.close();
    const [kept] = await listDeadLetters(d);
    assert.equal(kept.reason.length, 1_000);
    assert.ok(kept.reason.endsWith('...'));
  });
});

describe('the size limit counts the bytes on disk and refuses what would pass it', () => {
  it('entries are written up to the limit, the rest refused and counted; the files never pass it', async () => {
    const d = folder('cap');
    const maxBytes = 64 * 1024;
    const refused: DeadLetter[] = [];
    const store = new DeadLetterStore(d, maxBytes, { onRefused: (e) => refused.push(e) });
    await store.open();
    const results: boolean[] = [];
    for (let i = 0; i < 100; i++) results.push(await store.add(entry('wm-cap', i, 4_000)));
    await store.close();
    const written = results.filter(Boolean).length;
    const line = Buffer.byteLength(`${JSON.stringify(entry('wm-cap', 10, 4_000))}\n`);
    assert.equal(written, Math.floor(maxBytes / line), `${line}-byte entries in ${maxBytes} bytes`);
    assert.deepEqual(results, results.map((_, i) => i < written), 'refused from the first that does not fit on');
    assert.ok((await bytesOnDisk(d)) <= maxBytes, `${await bytesOnDisk(d)} bytes on disk`);
    assert.equal(store.refused, 100 - written);
    assert.equal(refused.length, 100 - written);
    assert.equal(refused[0].reason, entry('wm-cap', written).reason);
    assert.equal((await listDeadLetters(d, { limit: 1000 })).length, written);
  });

  it('files already there count, even those of other days, and room made by removing them is found on the next day', async () => {
    const d = folder('cap-existing');
    const store0 = new DeadLetterStore(d, 1024 * 1024);
    await store0.open();
    await store0.add({ ...entry('wm-old', 0, 60_000), time: '2026-01-01T00:00:00.000Z' });
    await store0.close();
    const old = await bytesOnDisk(d);
    const store = new DeadLetterStore(d, old + 30_000);
    await store.open();
    assert.equal(await store.add({ ...entry('wm-new', 1, 40_000), time: '2026-03-01T00:00:00.000Z' }), false, 'over the limit with the old file');
    assert.equal(await store.add({ ...entry('wm-new', 2, 20_000), time: '2026-03-01T00:00:01.000Z' }), true, 'a smaller one fits');
    await rm(join(d, '2026-01-01.jsonl'));
    assert.equal(await store.add({ ...entry('wm-new', 3, 40_000), time: '2026-03-01T00:00:02.000Z' }), false, 'the same day: not measured again yet');
    assert.equal(await store.add({ ...entry('wm-new', 4, 40_000), time: '2026-03-02T00:00:00.000Z' }), true, 'a new day: the folder is measured again');
    await store.close();
    assert.equal(store.refused, 2);
    assert.ok((await bytesOnDisk(d)) <= old + 30_000);
  });
});

describe('reading the store streams', () => {
  it('lines back to front and front to back across chunk edges, lines over the limit passed over', async () => {
    const rnd = mulberry32(16);
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      const r = rnd();
      const len = r < 0.05 ? 0 : r < 0.1 ? 70_000 + Math.floor(rnd() * 100_000) : Math.floor(rnd() * 3_000);
      lines.push(String.fromCharCode(97 + (i % 26)).repeat(len));
    }
    const path = join(dir, 'lines.txt');
    const text = `${lines.join('\n')}\nno newline at the end`;
    await writeFile(path, text);
    const all = [...lines, 'no newline at the end'];
    const maxLine = 100_000;
    const expected = all.map((l, i) => ({ start: all.slice(0, i).reduce((n, x) => n + x.length + 1, 0), length: l.length, bytes: l.length > maxLine ? null : l }));
    const fh = await open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      const back = [];
      for await (const l of linesBackward(fh, size, maxLine)) back.push({ start: l.start, length: l.length, bytes: l.bytes && l.bytes.toString() });
      // Going backwards an empty line is nothing to read: it is skipped.
      assert.deepEqual(back, expected.filter((l) => l.length > 0).reverse());
      const fwd = [];
      for await (const l of linesForward(fh, size, maxLine)) fwd.push({ start: l.start, length: l.length, bytes: l.bytes && l.bytes.toString() });
      assert.deepEqual(fwd, expected);
    } finally {
      await fh.close();
    }
  });

  it('newest first across day files, filtered, skipping blank and torn lines', async () => {
    const d = folder('list');
    const store = new DeadLetterStore(d, 64 * 1024 * 1024);
    await store.open();
    for (let i = 0; i < 30; i++) await store.add(entry(i % 2 ? 'wm-odd' : 'wm-even', i, 100));
    await store.close();
    await writeFile(join(d, '2026-03-03.jsonl'), `${' '.repeat(40)}\n{"time":"2026-03-03T1`, { flag: 'a' });
    const odd = await listDeadLetters(d, { deviceId: 'wm-odd', limit: 100 });
    assert.equal(odd.length, 15);
    assert.ok(odd.every((e) => e.deviceId === 'wm-odd'));
    const times = odd.map((e) => e.time);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    assert.equal((await listDeadLetters(d, { limit: 4 })).length, 4);
  });

  it('`deadletter list` reads a 64 MiB day file in a process given 48 MiB of heap', async () => {
    // Reading the file into one string, as before, needs more memory than the file: that
    // crashed at 512 MiB (the longest string V8 makes), and here at 48 MiB of heap.
    const d = folder('large');
    const path = join(d, '2026-03-01.jsonl');
    await mkdir(d, { recursive: true });
    const fh = await open(path, 'w');
    const line = (id: string, i: number) => `${JSON.stringify({ ...entry(id, i, 900), time: `2026-03-01T00:00:00.${String(i % 1000).padStart(3, '0')}Z` })}\n`;
    // The device asked for has the oldest entries: the whole file has to be read to reach them.
    let size = 0;
    for (let i = 0; i < 10; i++) size += (await fh.write(line('wm-first', i))).bytesWritten;
    const filler = Buffer.from(Array.from({ length: 1000 }, (_, i) => line(`wm-${i % 50}`, i)).join(''));
    while (size < 64 * 1024 * 1024) size += (await fh.write(filler)).bytesWritten;
    await fh.close();
    const r = await runCli(['deadletter', 'list', '--json', '--device', 'wm-first', '--limit', '5'], {
      UG_DEADLETTER_DIR: d, NODE_OPTIONS: '--max-old-space-size=48',
    });
    assert.equal(r.code, 0, r.stderr.slice(0, 2000));
    const listed = JSON.parse(r.stdout) as DeadLetter[];
    assert.deepEqual(listed.map((e) => e.reason), [9, 8, 7, 6, 5].map((i) => entry('wm-first', i).reason));
  });
});

describe('file modes', () => {

  it('raw payloads are owner data: day files 0600 in a 0700 folder, whatever the umask', async () => {
    const old = process.umask(0); // the widest: an unset mode would come out 0777 and 0666
    try {
      const d = join(folder('modes'), 'deadletter');
      const store = new DeadLetterStore(d, 64 * 1024 * 1024);
      await store.open();
      for (let i = 0; i < 3; i++) await store.add(entry('wm-mode', i, 100));
      await store.close();
      const names = await assertPrivateStore(d, 'the dead-letter store');
      assert.equal(names.length, 3, 'one file per day');
    } finally {
      process.umask(old);
    }
  });

  it('a store left wider by an older version is narrowed when it opens', async () => {
    const d = folder('modes-old');
    await mkdir(d, { mode: 0o755 });
    await chmod(d, 0o755);
    await writeFile(join(d, '2026-01-01.jsonl'), `${JSON.stringify({ ...entry('wm-old', 0), time: '2026-01-01T00:00:00.000Z' })}\n`, { mode: 0o644 });
    await chmod(join(d, '2026-01-01.jsonl'), 0o644);
    const store = new DeadLetterStore(d, 64 * 1024 * 1024);
    await store.open();
    await store.close();
    assert.equal(await mode(d), '700');
    assert.equal(await mode(join(d, '2026-01-01.jsonl')), '600');
  });
});

describe('erasure streams too', () => {
  it('overwrites the device\'s lines in place, across chunk edges, and leaves the others', async () => {
    const d = folder('erase');
    const store = new DeadLetterStore(d, 64 * 1024 * 1024);
    await store.open();
    for (let i = 0; i < 300; i++) await store.add({ ...entry(i % 3 ? 'wm-keep' : 'wm-gone', i, 500 + (i * 997) % 9_000), time: '2026-03-01T00:00:00.000Z' });
    await store.close();
    const path = join(d, '2026-03-01.jsonl');
    const before = await readFile(path);
    assert.equal(await eraseDeadLetters(d, 'wm-gone'), 100);
    const afterErase = await readFile(path);
    assert.equal(afterErase.length, before.length, 'the file keeps its length');
    assert.ok(!afterErase.includes('wm-gone'));
    assert.equal((await listDeadLetters(d, { deviceId: 'wm-keep', limit: 1000 })).length, 200);
    assert.equal((await listDeadLetters(d, { limit: 1000 })).length, 200);
  });
});
