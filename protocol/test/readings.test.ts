import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReadings, type ReadingError } from '../readings.ts';

const receivedAtMs = Date.UTC(2026, 10, 1);
const cycle = '"type":"cycle","program":"cotton","duration_s":3600,"water_l":50,"energy_kwh":1,"temp_c":40,"spin_rpm":1200';

/** The errors of one washer reading given as JSON text (so that 1e309 reaches JSON.parse as written). */
function errorsOf(fields: string): ReadingError[] {
  const r = decodeReadings(Buffer.from(`{${cycle},${fields}}`), { kind: 'washer', channel: 'telemetry', receivedAtMs, maxAgeMs: 400 * 86_400_000 });
  assert.equal(r.readings.length, 0, `accepted: {${fields}}`);
  return r.errors;
}

describe('refusal reasons say what was wrong in words', () => {
  // Each case: the reading's last fields, the field refused, its reason, and what the notice says came.
  const cases: Array<[string, string, string, unknown]> = [
    // JSON.parse reads 1e309 as Infinity, which zod refuses as "not a number"; JSON.stringify(Infinity) then said "null".
    ['"load_kg":1e309', 'load_kg', 'number too large (not finite)', 'Infinity'],
    ['"load_kg":-1e309', 'load_kg', 'number too large below zero (not finite)', '-Infinity'],
    ['"load_kg":7,"ts":1e309', 'ts', 'number too large (not finite)', 'Infinity'],
    // A fraction failed both forms of ts (number and string): zod said only "Invalid input".
    ['"load_kg":7,"ts":1772445600000.5', 'ts', 'epoch milliseconds must be a whole number, got 1772445600000.5', 1772445600000.5],
    ['"load_kg":7,"ts":-1', 'ts', 'epoch milliseconds must be ≥ 0 (1970-01-01T00:00:00Z), got -1', -1],
    ['"load_kg":7,"ts":1e17', 'ts', 'epoch milliseconds must be ≤ 8640000000000000 (the last time a date can hold), got 100000000000000000', 1e17],
    ['"load_kg":7,"ts":true', 'ts', 'expected an RFC 3339 time such as 2026-01-31T18:04:05Z or whole epoch milliseconds, got true', true],
    ['"load_kg":7,"ts":{"at":1}', 'ts', 'expected an RFC 3339 time such as 2026-01-31T18:04:05Z or whole epoch milliseconds, got an object', 'an object'],
    ['"load_kg":"heavy"', 'load_kg', 'expected number, got "heavy"', 'heavy'],
    ['"load_kg":7.5,"spin_rpm":1200.5', 'spin_rpm', 'expected a whole number, got 1200.5', 1200.5], // the later key wins in JSON.parse
    ['"load_kg":41', 'load_kg', 'must be ≤ 40, got 41', 41],
    ['"load_kg":-0.5', 'load_kg', 'must be ≥ 0, got -0.5', -0.5],
  ];
  for (const [fields, field, reason, received] of cases) {
    it(`{${fields}} → ${field}: ${reason}`, () => {
      const errors = errorsOf(fields);
      const e = errors.find((x) => x.field === field);
      assert.ok(e, JSON.stringify(errors));
      assert.equal(e.code, 'GW_ERR_INVALID_READING');
      assert.equal(e.reason, reason);
      assert.deepEqual(e.received, received);
    });
  }

  it('a missing field, an unknown one and a value outside its set', () => {
    const r = decodeReadings(Buffer.from('{"type":"cycle","program":"boil","duration_s":3600,"water_l":50,"energy_kwh":1,"temp_c":40,"spin_rpm":1200,"colour":"white"}'),
      { kind: 'washer', channel: 'telemetry', receivedAtMs, maxAgeMs: 1e12 });
    const by = new Map(r.errors.map((e) => [e.field, e]));
    assert.equal(by.get('load_kg')?.reason, 'load_kg is required');
    assert.equal(by.get('colour')?.reason, 'unknown field "colour": unknown fields are refused, not dropped');
    assert.match(by.get('program')?.reason ?? '', /^expected one of "cotton", .*"delicates", got "boil"$/);
  });

  it('a message the schema words itself keeps its own words (an error code)', () => {
    const r = decodeReadings(Buffer.from('{"type":"error","code":"E 21","severity":"warning"}'), { kind: 'washer', channel: 'events', receivedAtMs, maxAgeMs: 1e12 });
    assert.equal(r.errors[0].field, 'code');
    assert.equal(r.errors[0].reason, 'expected an error code such as E21 or P0301');
  });
});

describe('the firmware version', () => {
  const decode = (fields: string) => decodeReadings(Buffer.from(`{${cycle},"load_kg":7,${fields}}`), { kind: 'washer', channel: 'telemetry', receivedAtMs, maxAgeMs: 400 * 86_400_000 });

  it('is optional on every reading and kept as a tag, not a field', () => {
    const r = decode('"firmware":"4.2.1"');
    assert.equal(r.errors.length, 0, JSON.stringify(r.errors));
    assert.equal(r.readings[0].values.firmware, '4.2.1');
    assert.ok(r.readings[0].def.tags?.includes('firmware'));
    assert.equal(r.readings[0].def.fieldTypes.firmware, undefined);
    const events = decodeReadings(Buffer.from('{"type":"error","code":"E32","severity":"warning","firmware":"4.2.1"}'), { kind: 'washer', channel: 'events', receivedAtMs, maxAgeMs: 400 * 86_400_000 });
    assert.equal(events.errors.length, 0, JSON.stringify(events.errors));
  });

  it('that is not a version is refused with the field and the reason', () => {
    for (const bad of ['"4 2 1"', '""', '421', `"${'9'.repeat(33)}"`]) {
      const r = decode(`"firmware":${bad}`);
      assert.equal(r.readings.length, 0, bad);
      assert.equal(r.errors[0].field, 'firmware', bad);
      assert.equal(r.errors[0].code, 'GW_ERR_INVALID_READING');
    }
    assert.match(decode('"firmware":"4 2 1"').errors[0].reason, /expected a firmware version such as 3\.2\.0/);
  });
});
