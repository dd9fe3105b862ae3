import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeReadings } from '../protocol/readings.ts';
import { formatLine, simulatedReadings } from '../firmware-sim/index.ts';
import { LineDecoder } from '../gateway/serial/index.ts';

function take(kind: string, seed: number, n: number): Array<Record<string, unknown>> {
  let t = 1_767_225_600_000;
  const gen = simulatedReadings(kind, seed, () => t++);
  return Array.from({ length: n }, () => gen.next().value as Record<string, unknown>);
}

describe('sim-serial readings', () => {
  test('same seed, same readings; another seed, others', () => {
    assert.deepEqual(take('washer', 3, 20), take('washer', 3, 20));
    assert.notDeepEqual(take('washer', 3, 20), take('washer', 4, 20));
  });

  for (const kind of ['washer', 'fridge', 'car']) {
    test(`${kind}: every reading passes the protocol schema, printed as kv and decoded back`, () => {
      const readings = take(kind, 11, 200);
      const decoder = new LineDecoder({ format: 'kv' });
      const now = 1_767_225_600_000 + 1_000;
      for (const r of readings) {
        const d = decoder.decode(Buffer.from(formatLine(r, 'kv')));
        assert.equal(d.status, 'reading');
        const { reading, channel } = d as { reading: Record<string, unknown>; channel: 'telemetry' | 'events' };
        assert.deepEqual(reading, r, 'kv round trip keeps types');
        const v = decodeReadings(Buffer.from(JSON.stringify(reading)), { kind, channel, receivedAtMs: now, maxAgeMs: 86_400_000 });
        assert.deepEqual(v.errors, [], JSON.stringify(reading));
      }
      assert.ok(readings.some((r) => r.type === 'error'), 'now and then an error event');
      assert.deepEqual(readings.map((r) => r.seq), readings.map((_, i) => i));
    });
  }
});
