import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyFieldMap, coerceValues, LineDecoder, parseKv } from '../index.ts';

describe('parseKv', () => {
  test('pairs separated by spaces and tabs, values kept as text', () => {
    assert.deepEqual(parseKv('type=cycle program=cotton\tload_kg=8.2  duration_s=3600'), {
      ok: true, pairs: { type: 'cycle', program: 'cotton', load_kg: '8.2', duration_s: '3600' },
    });
  });

  test('quoted values with spaces and escapes; empty values', () => {
    const r = parseKv('type=error code=E21 detail="door \\"B\\" seal \\\\ worn" note=');
    assert.ok(r.ok);
    assert.equal(r.pairs.detail, 'door "B" seal \\ worn');
    assert.equal(r.pairs.note, '');
  });

  for (const [line, reason] of [
    ['type=cycle garbage', /"garbage" at column 12 is not a key=value pair/],
    ['type=error detail="unclosed', /quoted value of detail opened at column 19 is not closed/],
    ['type=a type=b', /type appears twice/],
    ['9lives=1', /not a valid key/],
    ['=5', /not a valid key/],
    ['a=x"y', /stray '"'/],
    ['a="x"y', /expected a space after the quoted value/],
    ['a=\u0001\u0002', /control bytes/],
    ['   ', /no key=value pairs/],
  ] as const) {
    test(`refuses ${JSON.stringify(line)}`, () => {
      const r = parseKv(line);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, reason);
    });
  }
});

describe('field map and coercion', () => {
  test('renames keys; a rename onto a key the line has is refused', () => {
    assert.deepEqual(applyFieldMap({ t: '4', x: 1 }, { t: 'temp_c' }), { ok: true, value: { temp_c: '4', x: 1 } });
    assert.deepEqual(applyFieldMap({ a: 1, b: 2 }, { a: 'b', b: 'a' }), { ok: true, value: { b: 1, a: 2 } }, 'a swap is no clash');
    assert.match((applyFieldMap({ temp_c: '5', t: '4' }, { t: 'temp_c' }) as { reason: string }).reason, /renames t to temp_c/);
    const clash = applyFieldMap({ t: '4', temp_c: '5' }, { t: 'temp_c' });
    assert.equal(clash.ok, false);
    assert.match((clash as { reason: string }).reason, /renames t to temp_c, but the line has temp_c already/);
  });

  test('numbers per the schema field types; what does not fit stays text', () => {
    const out = coerceValues({ load_kg: '8.2', duration_s: '3600', spin_rpm: '-1e3', program: '42', temp_c: 'nan', ts: '1767225600000', seq: '7', extra: '1' }, {
      load_kg: 'float', duration_s: 'int', spin_rpm: 'int', program: 'string', temp_c: 'float',
    });
    assert.deepEqual(out, { load_kg: 8.2, duration_s: 3600, spin_rpm: -1000, program: '42', temp_c: 'nan', ts: 1767225600000, seq: 7, extra: '1' });
    assert.equal(coerceValues({ ts: '2026-01-31T18:04:05Z' }, {}).ts, '2026-01-31T18:04:05Z');
  });
});

describe('LineDecoder', () => {
  const kv = new LineDecoder({ format: 'kv', fieldMap: { t: 'temp_c', kg: 'load_kg' } });
  const json = new LineDecoder({ format: 'json', fieldMap: { kg: 'load_kg' } });

  test('key=value line → typed reading on telemetry, with the field map applied', () => {
    const d = kv.decode(Buffer.from('type=cycle program=cotton kg=8.2 duration_s=3600 water_l=50 energy_kwh=1.1 t=40 spin_rpm=1200\r\n'.trim()));
    assert.deepEqual(d, {
      status: 'reading', channel: 'telemetry',
      reading: { type: 'cycle', program: 'cotton', load_kg: 8.2, duration_s: 3600, water_l: 50, energy_kwh: 1.1, temp_c: 40, spin_rpm: 1200 },
    });
  });

  test('error readings go to events; the fridge and car readings keep their types', () => {
    assert.deepEqual(kv.decode(Buffer.from('type=error code=E21 severity=warning')), { status: 'reading', channel: 'events', reading: { type: 'error', code: 'E21', severity: 'warning' } });
    const fridge = kv.decode(Buffer.from('type=state door_openings=3 compressor_duty=0.4'));
    assert.deepEqual(fridge.status === 'reading' && fridge.reading, { type: 'state', door_openings: 3, compressor_duty: 0.4 });
    const car = new LineDecoder({ format: 'kv', kind: 'car' }).decode(Buffer.from('type=trip harsh_brakes=2 odometer_km=12000.5'));
    assert.deepEqual(car.status === 'reading' && car.reading, { type: 'trip', harsh_brakes: 2, odometer_km: 12000.5 });
  });

  test('JSON lines: as sent over MQTT, renamed, not coerced', () => {
    assert.deepEqual(json.decode(Buffer.from('{"type":"cycle","kg":"8"}')), { status: 'reading', channel: 'telemetry', reading: { type: 'cycle', load_kg: '8' } });
    assert.deepEqual(json.decode(Buffer.from('{"type":"error","code":"E1","severity":"info"}')).status, 'reading');
  });

  test('an unknown or missing type is passed on, for the gateway to refuse with its reasons', () => {
    assert.deepEqual(kv.decode(Buffer.from('load_kg=3')), { status: 'reading', channel: 'telemetry', reading: { load_kg: '3' } });
  });

  test('blank lines, comments and a BOM are skipped', () => {
    for (const line of ['', '   \r', '# boot v1.2', '\uFEFF']) assert.deepEqual(kv.decode(Buffer.from(line)), { status: 'ignored' });
  });

  test('refusals carry stable codes', () => {
    const code = (d: ReturnType<LineDecoder['decode']>) => (d.status === 'refused' ? d.code : d.status);
    assert.equal(code(kv.decode(Buffer.from([0x74, 0x3d, 0xff, 0xfe]))), 'GW_ERR_BAD_UTF8');
    assert.equal(code(kv.decode(Buffer.from('hello world'))), 'GW_ERR_SERIAL_BAD_KV');
    assert.equal(code(kv.decode(Buffer.from('t=1 temp_c=2'))), 'GW_ERR_SERIAL_BAD_KV');
    assert.equal(code(json.decode(Buffer.from('{"type":"cycle",'))), 'GW_ERR_BAD_JSON');
    assert.equal(code(json.decode(Buffer.from('[1,2]'))), 'GW_ERR_NOT_A_READING');
    assert.equal(code(json.decode(Buffer.from('42'))), 'GW_ERR_NOT_A_READING');
  });

  test('a key named __proto__ stays a plain field (refused later as unknown), never a prototype', () => {
    for (const d of [kv.decode(Buffer.from('type=cycle __proto__=x')), json.decode(Buffer.from('{"type":"cycle","__proto__":{"polluted":1}}'))]) {
      assert.equal(d.status, 'reading');
      const r = (d as { reading: Record<string, unknown> }).reading;
      assert.ok(Object.hasOwn(r, '__proto__'));
      assert.equal(Object.getPrototypeOf(r), Object.prototype);
      assert.match(JSON.stringify(r), /"__proto__"/);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('an unknown kind is a configuration error', () => {
    assert.throws(() => new LineDecoder({ format: 'kv', kind: 'toaster' }), /unknown device kind "toaster"/);
  });
});
