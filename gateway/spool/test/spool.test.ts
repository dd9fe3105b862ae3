import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, chmod, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, type SpoolOptions } from '../index.ts';
import { assertPrivateStore, mode } from '../../../test/harness/file-modes.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ug-spool-'));
  dirs.push(d);
  return d;
}

async function openSpool(dir: string, o: Partial<SpoolOptions> = {}): Promise<Spool> {
  const s = new Spool({ dir, maxBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, fsync: true, ...o });
  await s.open();
  return s;
}

const payload = (i: number, pad = 0) => Buffer.from(`washer_cycle,device_id=d${i % 7} load_kg=${i}${' '.repeat(pad)} ${1_700_000_000_000_000_000 + i}`);

/** Every record from the cursor on, as the writer would read them (small batches). */
async function readAll(s: Spool): Promise<Array<{ text: string; lines: number; offset: number; end: number }>> {
  const out: Array<{ text: string; lines: number; offset: number; end: number }> = [];
  let pos = s.committedOffset;
  for (;;) {
    const batch = await s.read(pos, 7, 1024);
    if (batch.length === 0) return out;
    for (const r of batch) out.push({ text: r.payload.toString(), lines: r.lines, offset: r.offset, end: r.end });
    pos = batch[batch.length - 1].end;
  }
}

const segmentsOf = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();

describe('append, read, commit, reopen', () => {
  it('reads back what was appended, in order, with its line counts', async () => {
    const s = await openSpool(await freshDir());
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.append(payload(i), i + 1, true, 1000 + i)));
    const recs = await readAll(s);
    assert.equal(recs.length, 100);
    recs.forEach((r, i) => {
      assert.equal(r.text, payload(i).toString());
      assert.equal(r.lines, i + 1);
    });
    // records are contiguous: each starts where the previous ended
    for (let i = 1; i < recs.length; i++) assert.equal(recs[i].offset, recs[i - 1].end);
    const st = s.stats();
    assert.equal(st.depthRecords, 100);
    assert.equal(st.depthBytes, recs[99].end);
    await s.close();
  });

  it('read honours the line and byte caps but always returns at least one record', async () => {
    const s = await openSpool(await freshDir());
    for (let i = 0; i < 10; i++) await s.append(payload(i), 3, true);
    assert.equal((await s.read(0, 7, 1_000_000)).length, 2, '2 records of 3 lines fit in 7 lines');
    assert.equal((await s.read(0, 1, 1_000_000)).length, 1, 'a record over the line cap still comes alone');
    assert.equal((await s.read(0, 1000, 1)).length, 1, 'a record over the byte cap still comes alone');
    await s.close();
  });

  it('a commit survives a restart, and the next start replays exactly what follows the cursor', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir);
    for (let i = 0; i < 50; i++) await s.append(payload(i), 1, true);
    const recs = await readAll(s);
    await s.commit(recs[19].end, 20);
    assert.equal(s.stats().depthRecords, 30);
    await s.close();

    const again = await openSpool(dir);
    assert.equal(again.committedOffset, recs[19].end);
    assert.equal(again.stats().depthRecords, 30);
    assert.equal(again.stats().depthBytes, recs[49].end - recs[19].end);
    const replay = await readAll(again);
    assert.deepEqual(replay.map((r) => r.text), recs.slice(20).map((r) => r.text));
    // new appends go after the old ones
    await again.append(payload(50), 1, true);
    assert.equal((await readAll(again)).at(-1)!.text, payload(50).toString());
    await again.close();
  });

  it('a commit that is not past the cursor, or after close, does nothing', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir);
    for (let i = 0; i < 3; i++) await s.append(payload(i), 1, true);
    const recs = await readAll(s);
    await s.commit(recs[1].end, 2);
    await s.commit(recs[0].end, 1);
    assert.equal(s.committedOffset, recs[1].end);
    assert.equal(s.stats().depthRecords, 1);
    await s.close();
    await s.commit(recs[2].end, 1);
    const again = await openSpool(dir);
    assert.equal(again.committedOffset, recs[1].end, 'a closed spool leaves the cursor file alone');
    await again.close();
  });

  it('oldest age is that of the oldest uncommitted record, and 0 when empty', async () => {
    const s = await openSpool(await freshDir());
    await s.append(payload(0), 1, true, 10_000);
    await s.append(payload(1), 1, true, 15_000);
    await s.append(payload(2), 1, true, 20_000);
    assert.equal(s.stats(30_000).oldestAgeMs, 20_000);
    const recs = await readAll(s);
    await s.commit(recs[0].end, 1);
    assert.equal(s.stats(30_000).oldestAgeMs, 15_000);
    await s.commit(recs[2].end, 2);
    assert.equal(s.stats(30_000).oldestAgeMs, 0);
    assert.equal(s.stats().depthRecords, 0);
    assert.equal(s.stats().depthBytes, 0);
    // a steady trickle that the writer keeps up with does not age
    for (let i = 0; i < 5; i++) {
      await s.append(payload(i), 1, true, 40_000 + i * 10_000);
      const [r] = await s.read(s.committedOffset, 10, 10_000);
      await s.commit(r.end, 1);
    }
    await s.append(payload(9), 1, true, 100_000);
    assert.equal(s.stats(101_000).oldestAgeMs, 1_000);
    await s.close();
  });

  it('QoS 0 appends (not fsynced) are readable at once and survive a clean close', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir);
    for (let i = 0; i < 20; i++) await s.append(payload(i), 1, false);
    assert.equal((await readAll(s)).length, 20);
    await s.close();
    const again = await openSpool(dir);
    assert.equal((await readAll(again)).length, 20);
    await again.close();
  });
});

describe('torn tails and damage', () => {
  async function tenRecords(dir: string) {
    const s = await openSpool(dir);
    for (let i = 0; i < 10; i++) await s.append(payload(i), 1, true);
    const recs = await readAll(s);
    await s.commit(recs[2].end, 3);
    await s.close();
    const [seg] = await segmentsOf(dir);
    return { recs, seg: join(dir, seg) };
  }

  it('a record cut in the middle is cut off; the records before it are kept and new ones follow', async () => {
    const dir = await freshDir();
    const { recs, seg } = await tenRecords(dir);
    await truncate(seg, recs[9].end - 7);
    const s = await openSpool(dir);
    assert.equal((await stat(seg)).size, recs[8].end, 'the torn record is truncated away');
    const left = await readAll(s);
    assert.deepEqual(left.map((r) => r.text), recs.slice(3, 9).map((r) => r.text));
    assert.equal(s.stats().depthRecords, 6);
    await s.append(payload(99), 1, true);
    await s.close();
    const again = await openSpool(dir);
    assert.deepEqual((await readAll(again)).map((r) => r.text), [...recs.slice(3, 9).map((r) => r.text), payload(99).toString()]);
    await again.close();
  });

  it('a header cut short is cut off', async () => {
    const dir = await freshDir();
    const { recs, seg } = await tenRecords(dir);
    await truncate(seg, recs[8].end + 5);
    const s = await openSpool(dir);
    assert.equal((await readAll(s)).length, 6);
    assert.equal((await stat(seg)).size, recs[8].end);
    await s.close();
  });

  it('garbage after the last record is cut off, whatever it looks like', async () => {
    for (const junk of [Buffer.alloc(4096), Buffer.from('not a record at all, just text\n'), Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3])]) {
      const dir = await freshDir();
      const { recs, seg } = await tenRecords(dir);
      await appendFile(seg, junk);
      const s = await openSpool(dir);
      assert.equal((await stat(seg)).size, recs[9].end);
      assert.deepEqual((await readAll(s)).map((r) => r.text), recs.slice(3).map((r) => r.text));
      await s.close();
    }
  });

  it('a last record whose bytes changed (crc mismatch) is cut off', async () => {
    const dir = await freshDir();
    const { recs, seg } = await tenRecords(dir);
    const bytes = await readFile(seg);
    bytes[recs[9].end - 3] ^= 0x20;
    await writeFile(seg, bytes);
    const s = await openSpool(dir);
    assert.equal((await readAll(s)).length, 6);
    await s.close();
  });

  it('a cursor past the end of the log (QoS 0 tail lost with the page cache) is pulled back and persisted', async () => {
    const dir = await freshDir();
    const { recs } = await tenRecords(dir);
    await writeFile(join(dir, 'cursor'), JSON.stringify({ offset: recs[9].end + 500 }));
    const s = await openSpool(dir);
    assert.equal(s.committedOffset, recs[9].end);
    await s.append(payload(10), 1, true);
    await s.append(payload(11), 1, true);
    await s.close();
    // Were the old cursor still on disk, it would point into a new record and the next start
    // would cut that record as a torn tail.
    const again = await openSpool(dir);
    assert.deepEqual((await readAll(again)).map((r) => r.text), [payload(10).toString(), payload(11).toString()]);
    await again.close();
  });

  it('an unreadable cursor file replays the whole spool (replays are idempotent)', async () => {
    const dir = await freshDir();
    const { recs } = await tenRecords(dir);
    await writeFile(join(dir, 'cursor'), '{not json');
    const s = await openSpool(dir);
    assert.equal((await readAll(s)).length, recs.length);
    await s.close();
  });
});

describe('segments', () => {
  it('rotates at the segment size, reads across segments, and deletes segments once wholly committed', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 60; i++) await s.append(payload(i, 400), 1, true);
    const files = await segmentsOf(dir);
    assert.ok(files.length >= 6, `60 records of ~480 bytes in 4 KiB segments: ${files.length} files`);
    // each file is named by the global offset of its first byte
    let expectBase = 0;
    for (const f of files) {
      assert.equal(Number(f.slice(0, 20)), expectBase);
      expectBase += (await stat(join(dir, f))).size;
    }
    const recs = await readAll(s);
    assert.equal(recs.length, 60);
    recs.forEach((r, i) => assert.equal(r.text, payload(i, 400).toString()));

    await s.commit(recs[29].end, 30);
    const left = await segmentsOf(dir);
    assert.ok(left.length < files.length, 'committed segments are deleted');
    assert.ok(Number(left[0].slice(0, 20)) <= recs[30].offset, 'the segment holding the next record is kept');
    assert.deepEqual((await readAll(s)).map((r) => r.text), recs.slice(30).map((r) => r.text));
    await s.close();

    const again = await openSpool(dir, { segmentBytes: 4096 });
    assert.equal(again.stats().depthRecords, 30);
    assert.deepEqual((await readAll(again)).map((r) => r.text), recs.slice(30).map((r) => r.text));
    await again.commit(recs[59].end, 30);
    assert.equal((await segmentsOf(dir)).length, 1, 'only the segment being written remains');
    assert.equal(again.stats().depthBytes, 0);
    await again.close();
  });

  it('a wholly committed segment whose deletion a crash interrupted is removed at the next start', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 30; i++) await s.append(payload(i, 400), 1, true);
    const recs = await readAll(s);
    await s.close();
    const files = await segmentsOf(dir);
    const thirdBase = Number(files[2].slice(0, 20));
    const firstInThird = recs.findIndex((r) => r.offset === thirdBase);
    assert.ok(firstInThird > 0);
    // the cursor moved past two segments, but the process died before unlinking them
    await writeFile(join(dir, 'cursor'), JSON.stringify({ offset: thirdBase }));
    const again = await openSpool(dir, { segmentBytes: 4096 });
    assert.deepEqual(await segmentsOf(dir), files.slice(2));
    assert.deepEqual((await readAll(again)).map((r) => r.text), recs.slice(firstInThird).map((r) => r.text));
    await again.close();
  });

  it('many concurrent appends across rotations keep every record, in order, once', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir, { segmentBytes: 8192 });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => s.append(payload(i), 1, i % 2 === 0)));
    await s.close();
    const again = await openSpool(dir, { segmentBytes: 8192 });
    const recs = await readAll(again);
    assert.equal(recs.length, 2000);
    recs.forEach((r, i) => assert.equal(r.text, payload(i).toString()));
    await again.close();
  });
});

describe('file modes', () => {

  it('readings are owner data: the folder is 0700 and every segment and the cursor 0600, whatever the umask', async () => {
    const old = process.umask(0); // the widest: an unset mode would come out 0777 and 0666
    try {
      const dir = join(await freshDir(), 'data', 'spool');
      const s = await openSpool(dir, { segmentBytes: 4096 });
      for (let i = 0; i < 20; i++) await s.append(payload(i, 400), 1, true);
      const recs = await readAll(s);
      await s.commit(recs[4].end, 5);
      await s.close();
      const names = await assertPrivateStore(dir, 'the spool');
      assert.ok(names.filter((n) => n.endsWith('.seg')).length >= 2, `rotated: ${names}`);
      assert.ok(names.includes('cursor'), `${names}`);
    } finally {
      process.umask(old);
    }
  });

  it('a spool left wider by an older version is narrowed when it opens', async () => {
    const dir = await freshDir();
    const s = await openSpool(dir);
    await s.append(payload(1), 1, true);
    await s.commit(s.stats().endOffset, 1);
    await s.append(payload(2), 1, true);
    await s.close();
    assert.deepEqual((await readdir(dir)).filter((n) => !n.endsWith('.seg')), ['cursor']);
    await chmod(dir, 0o755);
    for (const n of await readdir(dir)) await chmod(join(dir, n), 0o644);
    await (await openSpool(dir)).close();
    assert.equal(await mode(dir), '700');
    for (const n of await readdir(dir)) assert.equal(await mode(join(dir, n)), '600', n);
  });
});

describe('size limit', () => {
  it('is full at maxBytes, says so once, and has room again after a commit', async () => {
    const s = await openSpool(await freshDir(), { maxBytes: 10_000, segmentBytes: 4096 });
    let fullEvents = 0;
    s.on('full', () => fullEvents++);
    let n = 0;
    while (!s.full) await s.append(payload(n++, 200), 1, true);
    assert.ok(n >= 30 && n <= 50, `~270-byte records fill 10,000 bytes after ${n}`);
    assert.equal(s.stats().full, true);
    assert.equal(fullEvents, 1);

    let released = false;
    const waiting = s.waitForSpace().then(() => { released = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(released, false, 'no room while nothing is committed');
    const recs = await s.read(0, 1000, 1_000_000);
    await s.commit(recs[recs.length - 1].end, recs.length);
    await waiting;
    assert.equal(released, true);
    assert.equal(s.full, false);
    // full again later: the event fires again
    while (!s.full) await s.append(payload(n++, 200), 1, true);
    assert.equal(fullEvents, 2);
    await s.close();
  });

  it('closing releases whoever waits for space, and appends after close are refused', async () => {
    const s = await openSpool(await freshDir(), { maxBytes: 2_000 });
    let n = 0;
    while (!s.full) await s.append(payload(n++, 200), 1, true);
    const waiting = s.waitForSpace();
    await s.close();
    await waiting;
    assert.equal(s.isClosed, true);
    await assert.rejects(s.append(payload(0), 1, true), /closed/);
  });
});

describe('kill -9', () => {
  it('every append that resolved before SIGKILL is in the spool after it, each once', async () => {
    const { spawn } = await import('node:child_process');
    const { createInterface } = await import('node:readline');
    const dir = await freshDir();
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./crash-child.ts', import.meta.url).pathname, dir, '16384'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Set<number>();
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        acked.add(Number(l));
        if (acked.size === 3000) resolve();
      });
      child.on('exit', () => resolve());
    });
    child.kill('SIGKILL');
    await exited;
    assert.ok(acked.size >= 3000, `the child acknowledged ${acked.size} appends before the kill`);

    const s = await openSpool(dir, { segmentBytes: 16384 });
    const seen = new Map<number, number>();
    for (const r of await readAll(s)) {
      const i = Number(/ i=(\d+)i /.exec(r.text)![1]);
      seen.set(i, (seen.get(i) ?? 0) + 1);
    }
    const missing = [...acked].filter((i) => !seen.has(i));
    assert.deepEqual(missing, [], 'acknowledged appends missing after the crash');
    assert.ok([...seen.values()].every((n) => n === 1), 'no record twice');
    assert.ok((await segmentsOf(dir)).length > 1, 'the crash test ran across segment rotations');
    await s.close();
  });
});
