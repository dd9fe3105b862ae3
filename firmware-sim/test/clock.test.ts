import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimClock } from '../clock.ts';
import { liveStart } from '../options.ts';
import { time } from '../options.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 15, 12);

describe('simulated clock', () => {
  it('runs `speed` times as fast from its start, and never ahead of the wall clock', () => {
    const c = new SimClock(T0 - 2 * H, 3_600, T0);
    assert.equal(c.now(T0), T0 - 2 * H);
    assert.equal(c.now(T0 + 1_000), T0 - H);
    // Caught up after 2 s of wall time: from then on it is the wall clock.
    assert.equal(c.now(T0 + 5_000), T0 + 5_000);
    assert.equal(c.wallMsUntil(T0 - H, T0), 1_000);
    assert.equal(c.wallMsUntil(T0 - 3 * H, T0), 0);
    // A time past the catch-up is reached by the wall clock, not by the compressed one.
    assert.equal(c.wallMsUntil(T0 + 60_000, T0), 60_000);
  });

  it('reads times as dates, RFC 3339, now, or now minus a duration', () => {
    assert.equal(time('--until', 'now', 0, T0), T0);
    assert.equal(time('--until', 'now-6h', 0, T0), T0 - 6 * H);
    assert.equal(time('--until', 'now-90m', 0, T0), T0 - 1.5 * H);
    assert.equal(time('--until', 'now-14d', 0, T0), T0 - 14 * 24 * H);
    assert.equal(time('--until', '2026-01-15', 0, T0), Date.UTC(2026, 0, 15));
    assert.equal(time('--until', undefined, 42, T0), 42);
    assert.throws(() => time('--until', 'yesterday', 0, T0), (e: Error & { code?: string }) => e.code === 'GW_ERR_USAGE' && /--until: "yesterday" is not a time/.test(e.message));
    assert.throws(() => time('--since', 'now+1h', 0, T0), /--since: "now\+1h" is not a time/);
    // Impossible dates are refused, not rolled over into the next month.
    assert.equal(time('--until', '2024-02-29T06:00:00+01:00', 0, T0), Date.UTC(2024, 1, 29, 5));
    assert.throws(() => time('--until', '2026-02-30', 0, T0), /--until: "2026-02-30" is not a time .*February 2026 has 28 days, there is no day 30/);
    assert.throws(() => time('--until', '2026-04-31T10:00:00Z', 0, T0), /April 2026 has 30 days, there is no day 31/);
  });

  it('starts a compressed live clock far enough back to reach now at the end of the run', () => {
    assert.equal(liveStart(1, undefined, undefined, T0), T0);
    assert.equal(liveStart(61, undefined, undefined, T0), T0 - 60 * 600_000);
    assert.equal(liveStart(61, undefined, 60_000, T0), T0 - H);
    assert.equal(liveStart(61, 'now-2h', undefined, T0), T0 - 2 * H);
    assert.throws(() => liveStart(1, '2099-01-01', undefined, T0), /must not be in the future/);
  });
});
