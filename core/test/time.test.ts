import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { DAY_MS, dayFloor, dayNumber, parseTime } from '../time.ts';

const now = Date.parse('2026-03-10T12:34:56.789Z');

test('day maths in UTC', () => {
  assert.equal(dayFloor(now), Date.parse('2026-03-10T00:00:00Z'));
  assert.equal(dayFloor(Date.parse('2026-03-10T00:00:00Z')), Date.parse('2026-03-10T00:00:00Z'));
  assert.equal(dayNumber(DAY_MS * 3 + 5), 3);
  assert.equal(dayFloor(-1), -DAY_MS);
});

test('relative times before now, in both notations', () => {
  assert.equal(parseTime('now', '--to', now), now);
  assert.equal(parseTime('now-6h', '--since', now), now - 6 * 3_600_000);
  assert.equal(parseTime('-6h', '--since', now), now - 6 * 3_600_000);
  assert.equal(parseTime('-90d', '--from', now), now - 90 * DAY_MS);
  assert.equal(parseTime('now-90m', '--from', now), now - 90 * 60_000);
  assert.equal(parseTime('now-2w', '--from', now), now - 14 * DAY_MS);
  assert.equal(parseTime('now-1.5h', '--from', now), now - 5_400_000);
});

test('RFC 3339 times, dates and epoch milliseconds', () => {
  assert.equal(parseTime('2026-03-01T12:00:00Z', '--as-of', now), Date.parse('2026-03-01T12:00:00Z'));
  assert.equal(parseTime('2026-03-01T12:00:00.250+01:00', '--as-of', now), Date.parse('2026-03-01T11:00:00.250Z'));
  assert.equal(parseTime('2026-03-01', '--as-of', now), Date.parse('2026-03-01T00:00:00Z'));
  assert.equal(parseTime('2024-02-29', '--as-of', now), Date.parse('2024-02-29T00:00:00Z'));
  assert.equal(parseTime('1767225600000', '--as-of', now), 1_767_225_600_000);
});

test('anything else is a usage error naming the option', () => {
  for (const bad of ['yesterday', '2026-02-30', '2025-02-29', '2026-13-01T00:00:00Z', '2026-03-01T24:00:00Z', '2026-03-01T12:00:00', 'now+6h', '-6y', '12', '']) {
    assert.throws(() => parseTime(bad, '--from', now), (err: unknown) => err instanceof UsageGatewayError && err.code === 'GW_ERR_USAGE' && err.message.startsWith('--from:'), bad);
  }
});
