import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReadings } from '../readings.ts';
import { parseRfc3339, parseRfc3339Date } from '../time.ts';

// Good times with the epoch milliseconds they stand for (Date.UTC takes a month from 0).
const GOOD: Array<[string, number]> = [
  ['2026-01-31T18:04:05Z', Date.UTC(2026, 0, 31, 18, 4, 5)],
  ['2024-02-29T12:00:00Z', Date.UTC(2024, 1, 29, 12)], // leap year
  ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)], // divisible by 400: leap
  ['2026-04-30T23:59:59Z', Date.UTC(2026, 3, 30, 23, 59, 59)],
  ['2026-12-31T23:59:59.999Z', Date.UTC(2026, 11, 31, 23, 59, 59, 999)],
  ['2026-03-10T10:00:00+05:30', Date.UTC(2026, 2, 10, 4, 30)],
  ['2026-03-10T10:00:00-08:00', Date.UTC(2026, 2, 10, 18)],
  ['2026-03-10T10:00:00-00:00', Date.UTC(2026, 2, 10, 10)],
  ['2026-03-10T00:30:00+23:59', Date.UTC(2026, 2, 9, 0, 31)],
  ['2026-03-10t10:00:00z', Date.UTC(2026, 2, 10, 10)], // lower case, RFC 3339 5.6 note
  ['2026-03-10 10:00:00Z', Date.UTC(2026, 2, 10, 10)], // space for T, same note
  ['2026-03-10T10:00:00.5Z', Date.UTC(2026, 2, 10, 10, 0, 0, 500)],
  ['2026-03-10T10:00:00.123456789Z', Date.UTC(2026, 2, 10, 10, 0, 0, 123)], // cut to the millisecond
  ['1970-01-01T00:00:00Z', 0],
];

// Bad times with what the reason must name.
const BAD: Array<[string, RegExp]> = [
  ['2026-02-30T10:00:00Z', /February 2026 has 28 days, there is no day 30/],
  ['2025-02-29T10:00:00Z', /February 2025 has 28 days, there is no day 29/],
  ['1900-02-29T10:00:00Z', /February 1900 has 28 days/], // divisible by 100, not 400
  ['2026-04-31T10:00:00Z', /April 2026 has 30 days, there is no day 31/],
  ['2026-01-00T10:00:00Z', /January 2026 has 31 days, there is no day 00/],
  ['2026-13-01T10:00:00Z', /there is no month 13/],
  ['2026-00-10T10:00:00Z', /there is no month 00/],
  ['2026-01-10T24:00:00Z', /hour 24 is out of range/],
  ['2026-01-10T23:60:00Z', /minute 60 is out of range/],
  ['2026-01-10T23:59:61Z', /second 61 is out of range/],
  ['2026-12-31T23:59:60Z', /leap second/],
  ['2026-01-10T10:00:00+24:00', /offset \+24:00 is out of range/],
  ['2026-01-10T10:00:00+05:60', /offset \+05:60 is out of range/],
  ['2026-01-10T10:00:00.1234567891Z', /fraction of a second has 10 digits, at most 9/],
  ['2026-01-10T10:00:00', /expected an RFC 3339 time/], // no offset: local time is not a time
  ['2026-01-10T10:00Z', /expected an RFC 3339 time/], // seconds are required
  ['2026-01-10T10:00:00.Z', /expected an RFC 3339 time/],
  ['2026-1-10T10:00:00Z', /expected an RFC 3339 time/],
  ['2026-01-10T10:00:00+0100', /expected an RFC 3339 time/],
  ['Tue, 10 Mar 2026 10:00:00 GMT', /expected an RFC 3339 time/],
  ['2026-01-10', /expected an RFC 3339 time/],
  ['', /expected an RFC 3339 time/],
];

describe('RFC 3339 times are parsed strictly', () => {
  for (const [text, ms] of GOOD) {
    it(`${text} is ${new Date(ms).toISOString()}`, () => {
      assert.deepEqual(parseRfc3339(text), { ok: true, ms });
    });
  }
  for (const [text, why] of BAD) {
    it(`${JSON.stringify(text)} is refused: ${why.source}`, () => {
      const r = parseRfc3339(text);
      assert.equal(r.ok, false, `accepted as ${r.ok ? new Date(r.ms).toISOString() : ''}`);
      assert.match(r.ok ? '' : r.reason, why);
    });
  }

  it('a full date on its own is midnight UTC, and an impossible one is refused', () => {
    assert.deepEqual(parseRfc3339Date('2024-02-29'), { ok: true, ms: Date.UTC(2024, 1, 29) });
    const r = parseRfc3339Date('2026-02-29');
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.reason, /February 2026 has 28 days, there is no day 29/);
  });
});

describe('a reading ts goes through the strict parser', () => {
  const cycle = { type: 'cycle', program: 'cotton', load_kg: 7, duration_s: 3600, water_l: 50, energy_kwh: 1, temp_c: 40, spin_rpm: 1200 };
  // Every time of the tables is within the window: received just after the last, no age limit.
  const receivedAtMs = Date.UTC(2027, 0, 1);
  const decode = (ts: unknown) => decodeReadings(Buffer.from(JSON.stringify({ ...cycle, ts })), { kind: 'washer', channel: 'telemetry', receivedAtMs, maxAgeMs: receivedAtMs + 1 });

  it('a good ts is stored at its instant', () => {
    for (const [text, ms] of GOOD) {
      const r = decode(text);
      assert.deepEqual(r.errors, [], text);
      assert.equal(r.readings[0].timeMs, ms, text);
    }
  });

  it('a bad ts is refused on the field ts with the parser\'s reason, never shifted to another day', () => {
    for (const [text, why] of BAD) {
      const r = decode(text);
      assert.equal(r.readings.length, 0, `${text} was accepted as ${r.readings[0] && new Date(r.readings[0].timeMs).toISOString()}`);
      assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
      assert.equal(r.errors[0].code, 'GW_ERR_INVALID_READING');
      assert.equal(r.errors[0].field, 'ts');
      assert.match(r.errors[0].reason, why);
      assert.equal(r.errors[0].received, text);
    }
  });
});
