import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeReadings, type Reading } from '../../../protocol/readings.ts';
import { fnv1a } from '../../hash.ts';
import { escMeasurement, escString, escTag, formatPoint, readingsToLines, splitLines, timeNs, type DeviceTags, type Point } from '../index.ts';

const RECEIVED = Date.UTC(2026, 11, 1, 12);

/** A reading's line the plain way: its Point through formatPoint (what readingsToLines must equal, byte for byte). */
function reference(r: Reading, device: DeviceTags): string {
  const tags: Record<string, string> = { device_id: device.deviceId, kind: device.kind, model: device.model };
  const fields: Point['fields'] = {};
  for (const [name, value] of Object.entries(r.values)) {
    if (r.def.tags?.includes(name)) tags[name] = String(value);
    else fields[name] = { type: r.def.fieldTypes[name], value };
  }
  if (r.seq !== undefined) fields.seq = { type: 'int', value: r.seq };
  const subMs = r.seq !== undefined ? r.seq : fnv1a(JSON.stringify(r.values)) % 1_000_000;
  return formatPoint({ measurement: r.def.measurement, tags, fields, timeNs: timeNs(r.timeMs, subMs) });
}

test('readingsToLines writes what formatPoint writes, escapes included', () => {
  const messages: Array<[string, 'telemetry' | 'events', string]> = [
    ['washer', 'telemetry', '[{"type":"cycle","ts":1793181590000,"seq":531,"program":"delicates","load_kg":2.3,"duration_s":3201,"water_l":18,"energy_kwh":0.243,"temp_c":30,"spin_rpm":600,"vibration_g":0.447,"detergent_ml":45,"firmware":"4.2.1"},{"type":"cycle","program":"eco","load_kg":-0,"duration_s":1,"water_l":0.000001,"energy_kwh":20,"temp_c":1e-7,"spin_rpm":0}]'],
    ['fridge', 'telemetry', '{"type":"state","ts":"2026-10-28T07:41:49.5+02:00","temp_c":4.97,"freezer_temp_c":-18.03,"door_openings":0,"door_open_s":0,"compressor_duty":0.355,"energy_kwh":0.0058,"firmware":"1.9.2+b_7"}'],
    ['car', 'telemetry', '{"type":"trip","ts":"2026-10-28T07:41:49.000Z","seq":1994,"distance_km":16.4,"duration_s":1210,"avg_speed_kmh":48.8,"max_speed_kmh":96.3,"harsh_brakes":2,"harsh_accels":0,"night_km":0,"odometer_km":98101.2}'],
    ['car', 'events', '[{"type":"error","ts":1794573640000,"code":"P0128","severity":"warning","detail":"a \\"quoted\\" detail, with = and \\\\ and spaces","firmware":"5.1.0"},{"type":"error","code":"E.21_x-","severity":"critical","detail":""}]'],
  ];
  const devices: DeviceTags[] = [
    { deviceId: 'dev-001', kind: 'x', model: 'WM-8' },
    { deviceId: 'dev.with.dots', kind: 'x', model: 'Model 8, big=yes \\ back' },
  ];
  let lines = 0;
  for (const [kind, channel, json] of messages) {
    const res = decodeReadings(Buffer.from(json), { kind, channel, receivedAtMs: RECEIVED, maxAgeMs: 400 * 86_400_000 });
    assert.equal(res.errors.length, 0, JSON.stringify(res.errors));
    for (const d of devices) {
      const device = { ...d, kind };
      assert.equal(readingsToLines(res.readings, device), res.readings.map((r) => reference(r, device)).join('\n'));
      lines += res.readings.length;
    }
  }
  assert.equal(lines, 12);
});

test('escaping: only what line protocol requires, and the same string when nothing needs it', () => {
  assert.equal(escTag('a b,c=d\\e'), 'a\\ b\\,c\\=d\\\\e');
  assert.equal(escMeasurement('a b,c=d\\e'), 'a\\ b\\,c=d\\\\e');
  assert.equal(escString('say "hi" \\ ok, = fine'), '"say \\"hi\\" \\\\ ok, = fine"');
  for (const plain of ['', 'dev-001', 'WM-8', '4.2.1']) {
    assert.equal(escTag(plain), plain);
    assert.equal(escMeasurement(plain), plain);
    assert.equal(escString(plain), `"${plain}"`);
  }
});

test('splitLines cuts a body where InfluxDB does: a newline inside a string field is part of its point', () => {
  const details = ['line one\nline two', 'a\r\nb\rc', '\n', 'ends with a backslash \\', 'a \\"quoted\\"\nline', 'backslash-n is two characters: \\n', '"\n"', ''];
  const events = details.map((detail, i) => ({ type: 'error', ts: 1794573640000 + i, seq: i, code: 'E21', severity: 'warning', detail }));
  const res = decodeReadings(Buffer.from(JSON.stringify(events)), { kind: 'washer', channel: 'events', receivedAtMs: RECEIVED, maxAgeMs: 400 * 86_400_000 });
  assert.equal(res.errors.length, 0, JSON.stringify(res.errors));
  const device = { deviceId: 'dev-001', kind: 'washer', model: 'WM-8' };
  const one = res.readings.map((r) => readingsToLines([r], device));
  assert.deepEqual(splitLines(readingsToLines(res.readings, device)), one);
  assert.deepEqual(splitLines(one[0]), [one[0]]);
  // Quotes are plain characters outside a field's value: in the measurement, a tag, a field key.
  const odd = ['m"x,t=a"b f="x\ny" 1', 'm,t="a b=1 2', 'm f"k=1i,g="\n" 3', 'm,t=a\\ b f="p\\\\",g="q" 4'];
  assert.deepEqual(splitLines(odd.join('\n')), odd);
  assert.deepEqual(splitLines('m f=1 1'), ['m f=1 1']);
});
