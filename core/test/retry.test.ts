import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, parseRetryAfter, retryDelayMs } from '../retry.ts';

const policy = { minMs: 100, maxMs: 10_000 };

test('backoff doubles per attempt, jittered between half and all of its step', () => {
  for (const [attempt, step] of [[0, 100], [1, 200], [2, 400], [5, 3_200]] as const) {
    assert.equal(backoffMs(attempt, policy, () => 0), step / 2);
    assert.equal(backoffMs(attempt, policy, () => 0.999999), step);
  }
});

test('backoff is capped, however many attempts', () => {
  assert.equal(backoffMs(50, policy, () => 0.999999), 10_000);
  assert.equal(backoffMs(10_000, policy, () => 0), 5_000);
  assert.equal(backoffMs(-3, policy, () => 0), 50);
});

test('Retry-After is honoured when longer than the backoff, never past the cap', () => {
  assert.equal(retryDelayMs(0, policy, 2_000, () => 0), 2_000);
  assert.equal(retryDelayMs(0, policy, 3_600_000, () => 0), 10_000);
  assert.equal(retryDelayMs(6, policy, 10, () => 1), 6_400);
  assert.equal(retryDelayMs(0, policy, undefined, () => 0), 50);
});

test('Retry-After as seconds or as an HTTP date', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter(['3'], now), 3_000);
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter('', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('-5', now), undefined);
});
