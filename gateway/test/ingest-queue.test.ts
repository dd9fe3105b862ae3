import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestQueue } from '../ingest/index.ts';

/** A task that ends when told to, recording when it began. */
function gated(started: number[], id: number) {
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  return { run: () => { started.push(id); return done; }, finish };
}

test('at most maxInFlight messages are in work; the others start in arrival order', async () => {
  const q = new IngestQueue({ maxInFlight: 2, pauseAt: 100, refuseAt: 1000 });
  const started: number[] = [];
  const tasks = Array.from({ length: 5 }, (_, i) => gated(started, i));
  const runs = tasks.map((t) => q.run(t.run));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual({ inFlight: q.stats().inFlight, waiting: q.stats().waiting }, { inFlight: 2, waiting: 3 });
  tasks[1].finish();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1, 2], 'the first waiting message takes the slot');
  for (const t of tasks) t.finish();
  await Promise.all(runs);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  assert.deepEqual({ inFlight: q.stats().inFlight, waiting: q.stats().waiting }, { inFlight: 0, waiting: 0 });
});

const turn = () => new Promise((r) => setImmediate(r));

test('reading stops at pauseAt waiting messages and resumes at half, letting the parked connections in one per turn, in order', async () => {
  let pauses = 0;
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 4, refuseAt: 8, onPause: () => pauses++ });
  const started: number[] = [];
  const tasks = Array.from({ length: 6 }, (_, i) => gated(started, i));
  const runs = tasks.map((t) => q.run(t.run));
  await turn();
  assert.equal(q.stats().waiting, 5);
  assert.equal(q.closed, true, 'closed once 4 wait');
  assert.equal(pauses, 1);
  const resumed: string[] = [];
  let closedMeanwhile: boolean | undefined;
  // A connection let in hands on its data; the broker parses it on the next tick.
  const connection = (name: string, then?: () => void) => () => {
    resumed.push(name);
    process.nextTick(() => {
      resumed.push(`${name} parsed`);
      then?.();
    });
  };
  q.whenOpen(connection('a', () => {
    closedMeanwhile = q.closed;
    q.whenOpen(connection('c'));
  }));
  q.whenOpen(connection('b'));
  // 5 → 4 → 3 waiting: still closed above half (2).
  tasks[0].finish();
  await turn();
  tasks[1].finish();
  await turn();
  assert.equal(q.closed, true);
  assert.deepEqual(resumed, []);
  tasks[2].finish();
  for (let i = 0; i < 20 && (resumed.length < 6 || q.closed); i++) await turn();
  assert.equal(q.stats().waiting, 2);
  assert.deepEqual(resumed, ['a', 'a parsed', 'b', 'b parsed', 'c', 'c parsed'], 'one at a time, each parsed before the next is let in; a newcomer after those parked before it');
  assert.equal(closedMeanwhile, true, 'closed to newcomers while parked connections are let in');
  assert.equal(q.closed, false, 'open again once every parked connection is in');
  let now = false;
  q.whenOpen(() => (now = true));
  assert.equal(now, true, 'an open queue calls back at once');
  for (const t of tasks) t.finish();
  await Promise.all(runs);
  assert.equal(q.stats().peakWaiting, 5);
});

test('a parked connection whose data fills the queue again stops the others from being let in; they keep their place', async () => {
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 4, refuseAt: 100 });
  const started: number[] = [];
  const tasks = Array.from({ length: 6 }, (_, i) => gated(started, i));
  const runs = tasks.map((t) => q.run(t.run));
  await turn();
  assert.equal(q.closed, true);
  const resumed: string[] = [];
  // 'a' brings three messages: 2 waiting + 3 = 5, over pauseAt again.
  q.whenOpen(() => {
    resumed.push('a');
    for (let i = 6; i < 9; i++) {
      const t = gated(started, i);
      tasks.push(t);
      runs.push(q.run(t.run));
    }
  });
  q.whenOpen(() => resumed.push('b'));
  q.whenOpen(() => resumed.push('c'));
  for (let i = 0; i < 3; i++) {
    tasks[i].finish();
    await turn();
  }
  for (let i = 0; i < 5; i++) await turn();
  assert.deepEqual(resumed, ['a'], 'b and c wait: the queue is full again');
  assert.equal(q.closed, true);
  assert.equal(q.stats().waiting, 5);
  for (let i = 3; i < 6; i++) {
    tasks[i].finish();
    await turn();
  }
  for (let i = 0; i < 20 && resumed.length < 3; i++) await turn();
  assert.deepEqual(resumed, ['a', 'b', 'c']);
  for (const t of tasks) t.finish();
  await Promise.all(runs);
});

test('overflowing from refuseAt waiting messages, and no longer once they are taken', async () => {
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 2, refuseAt: 3 });
  const started: number[] = [];
  const tasks = Array.from({ length: 4 }, (_, i) => gated(started, i));
  const runs = tasks.map((t) => q.run(t.run));
  await new Promise((r) => setImmediate(r));
  assert.equal(q.overflowing, true);
  tasks[0].finish();
  await new Promise((r) => setImmediate(r));
  assert.equal(q.overflowing, false);
  for (const t of tasks) t.finish();
  await Promise.all(runs);
});

test('a task that fails gives its slot back', async () => {
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 10, refuseAt: 20 });
  await assert.rejects(q.run(() => Promise.reject(new Error('disk'))), /disk/);
  assert.equal(await q.run(() => Promise.resolve(7)), 7);
  assert.equal(q.stats().inFlight, 0);
});

test('messages held until they are on disk stop reading at pauseAtSpooling and let it resume at half, waiting messages permitting', async () => {
  let pauses = 0;
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 100, pauseAtSpooling: 4, refuseAt: 1000, onPause: () => pauses++ });
  const disk = Array.from({ length: 4 }, () => {
    let settle!: (err?: Error) => void;
    const stored = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err) : resolve())));
    return { stored, settle };
  });
  const held = disk.slice(0, 3).map((d) => q.hold(d.stored));
  assert.deepEqual({ spooling: q.stats().spooling, closed: q.closed }, { spooling: 3, closed: false });
  held.push(q.hold(disk[3].stored));
  assert.deepEqual({ spooling: q.stats().spooling, closed: q.closed, pauses }, { spooling: 4, closed: true, pauses: 1 }, 'the fourth closes the queue');
  let resumed = false;
  q.whenOpen(() => (resumed = true));
  disk[0].settle();
  await held[0];
  assert.equal(q.closed, true, 'three still spooling: over half of four');
  disk[1].settle(new Error('disk full'));
  await assert.rejects(held[1], /disk full/, 'a failed write rejects the hold, so the message is not acknowledged');
  assert.equal(q.stats().spooling, 2);
  await turn();
  assert.deepEqual({ closed: q.closed, resumed }, { closed: false, resumed: true }, 'two of four: reading resumes');
  disk[2].settle();
  disk[3].settle();
  await Promise.all([held[2], held[3]]);
  assert.deepEqual({ spooling: q.stats().spooling, peakSpooling: q.stats().peakSpooling }, { spooling: 0, peakSpooling: 4 });
});

test('reading stays stopped while waiting messages are over half of pauseAt, whatever is stored', async () => {
  const q = new IngestQueue({ maxInFlight: 1, pauseAt: 2, pauseAtSpooling: 1000, refuseAt: 100 });
  const started: number[] = [];
  const tasks = Array.from({ length: 4 }, (_, i) => gated(started, i));
  const runs = tasks.map((t) => q.run(t.run));
  await turn();
  assert.equal(q.closed, true, 'three waiting for the one slot');
  let finish!: () => void;
  const held = q.hold(new Promise<void>((r) => (finish = r)));
  finish();
  await held;
  assert.equal(q.closed, true, 'nothing spooling, but three still waiting');
  for (const t of tasks) t.finish();
  await Promise.all(runs);
  await turn();
  assert.equal(q.closed, false);
});
