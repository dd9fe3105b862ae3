import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BoundedLineParser } from '../index.ts';

function harness(maxLineBytes: number, partialLineTimeoutMs = 0) {
  const lines: string[] = [];
  const overlong: Array<[number, string]> = [];
  const partial: string[] = [];
  const parser = new BoundedLineParser({
    maxLineBytes, partialLineTimeoutMs,
    onOverlong: (n, head) => overlong.push([n, head.toString()]),
    onPartial: (b) => partial.push(b.toString()),
  });
  parser.on('data', (b: Buffer) => lines.push(b.toString()));
  const write = (s: string) => new Promise<void>((r) => parser.write(Buffer.from(s), () => r()));
  return { parser, lines, overlong, partial, write };
}

describe('BoundedLineParser', () => {
  test('frames lines across chunk boundaries', async () => {
    const h = harness(100);
    await h.write('ab');
    await h.write('c\nde\n\nf');
    await h.write('g\n');
    // An empty line carries no bytes, so the stream has nothing to emit for it.
    assert.deepEqual(h.lines, ['abc', 'de', 'fg']);
  });

  test('a line over the limit within one chunk is dropped and reported; neighbours survive', async () => {
    const h = harness(10);
    await h.write(`ok1\n${'x'.repeat(25)}\nok2\n`);
    assert.deepEqual(h.lines, ['ok1', 'ok2']);
    assert.deepEqual(h.overlong, [[25, 'x'.repeat(25)]]);
  });

  test('a line over the limit across chunks is dropped up to its end, memory stays bounded', async () => {
    const h = harness(10);
    await h.write('yyyyyyyy');
    await h.write('yyyyyyyy'); // over the limit: buffer dropped
    assert.ok(h.parser.pendingBytes() === 16);
    assert.equal((h.parser as unknown as { buffer: Buffer }).buffer.length, 0);
    await h.write('yyyy\nnext\n');
    assert.deepEqual(h.overlong.map(([n]) => n), [20]);
    assert.deepEqual(h.lines, ['next']);
  });

  test('an unfinished line that goes quiet is handed over as partial; the next line is clean', async () => {
    const h = harness(100, 30);
    await h.write('half a li');
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (h.partial.length > 0) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    await h.write('whole\n');
    assert.deepEqual(h.partial, ['half a li']);
    assert.deepEqual(h.lines, ['whole']);
  });

  test('takePartial hands back the unfinished line (port lost)', async () => {
    const h = harness(100);
    await h.write('one\ntw');
    assert.equal(h.parser.takePartial().toString(), 'tw');
    await h.write('three\n');
    assert.deepEqual(h.lines, ['one', 'three']);
  });
});
