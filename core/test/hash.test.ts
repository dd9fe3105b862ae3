import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fnv1a } from '../hash.ts';

test('FNV-1a 32 bit matches the reference vectors', () => {
  // Vectors from the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c);
  assert.equal(fnv1a('foobar'), 0xbf9cf968);
});

test('unsigned, and different for near-identical keys', () => {
  const a = fnv1a('washer-0001');
  const b = fnv1a('washer-0002');
  assert.ok(a >= 0 && b >= 0);
  assert.notEqual(a, b);
});
