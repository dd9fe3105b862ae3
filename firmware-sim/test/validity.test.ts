import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeReadings } from '../../protocol/readings.ts';
import { fleetSims, type SimReading } from '../generate.ts';
import { FAULTS } from '../personas.ts';
import { catalogue, DAY, EPOCH, fleetOf } from './fixtures.ts';

const RETENTION_MS = 400 * DAY;

/** Decodes one reading as the gateway would on receiving it live, just after its time. */
function decodeOne(kind: string, r: SimReading) {
  return decodeReadings(Buffer.from(JSON.stringify(r.reading)), { kind, channel: r.channel, receivedAtMs: r.timeMs + 2_000, maxAgeMs: RETENTION_MS });
}

describe('validity against the protocol schemas', () => {
  // Enough faulty devices that every fault kind is present several times.
  const fleet = fleetOf(150, 21, undefined, 0.1);
  const sims = fleetSims(fleet, catalogue);

  it('plants every kind of misbehaving firmware', () => {
    for (const f of FAULTS) assert.ok(fleet.devices.filter((d) => d.fault === f).length >= 2, f);
  });

  it('every reading meant to be valid passes decodeReadings; each faulty one is refused for its reason', () => {
    const tally: Record<string, number> = {};
    for (const sim of sims) {
      for (const r of sim.readings(EPOCH - 21 * DAY, EPOCH)) {
        const out = decodeOne(sim.device.kind, r);
        tally[r.expect] = (tally[r.expect] ?? 0) + 1;
        if (r.expect === 'ok' || r.expect === 'duplicate') {
          assert.equal(out.errors.length, 0, `${r.deviceId} ${JSON.stringify(r.reading)}: ${JSON.stringify(out.errors)}`);
          assert.equal(out.readings.length, 1);
        } else {
          assert.equal(out.readings.length, 0, `${r.deviceId} ${JSON.stringify(r.reading)} was meant to be refused`);
          assert.equal(out.errors[0].code, r.expect, JSON.stringify(out.errors));
        }
      }
    }
    assert.ok(tally.ok > 100_000, `ok: ${tally.ok}`);
    for (const e of ['GW_ERR_INVALID_READING', 'GW_ERR_TS_TOO_OLD', 'duplicate']) assert.ok((tally[e] ?? 0) >= 1, `${e}: ${tally[e]}`);
  });

  it('refuses unknown fields and out-of-range values by the field', () => {
    for (const sim of sims.filter((s) => s.device.fault === 'unknown-field' || s.device.fault === 'out-of-range')) {
      for (const r of sim.readings(EPOCH - 14 * DAY, EPOCH)) {
        if (r.expect !== 'GW_ERR_INVALID_READING') continue;
        const e = decodeOne(sim.device.kind, r).errors[0];
        if (sim.device.fault === 'unknown-field') assert.match(e.reason, /unknown field "fw_debug"/);
        else assert.ok(['spin_rpm', 'compressor_duty', 'avg_speed_kmh'].includes(e.field ?? ''), e.field);
      }
    }
  });

  it('keeps per-device seq strictly increasing and readings in time order', () => {
    for (const sim of sims) {
      let seq = -1;
      let last = 0;
      for (const r of sim.readings(EPOCH - 30 * DAY, EPOCH)) {
        assert.ok(r.timeMs >= last, `${r.deviceId} goes back in time at ${new Date(r.timeMs).toISOString()}`);
        last = r.timeMs;
        if (r.channel !== 'telemetry' || r.expect === 'duplicate') continue;
        const s = r.reading.seq as number;
        assert.ok(s > seq, `${r.deviceId}: seq ${s} after ${seq}`);
        seq = s;
      }
    }
  });

  it('keeps a car odometer consistent with the distances driven', () => {
    let compared = 0;
    for (const sim of sims.filter((s) => s.device.kind === 'car' && s.device.fault === null)) {
      let prev: { odo: number; seq: number } | null = null;
      for (const r of sim.readings(EPOCH - 30 * DAY, EPOCH)) {
        if (r.channel !== 'telemetry') continue;
        const odo = r.reading.odometer_km as number;
        const seq = r.reading.seq as number;
        // A trip lost in a connectivity outage shows as a gap in seq: the odometer has moved on.
        if (prev && seq === prev.seq + 1) {
          assert.ok(Math.abs(odo - prev.odo - (r.reading.distance_km as number)) < 0.051, `${r.deviceId}: ${prev.odo} + ${r.reading.distance_km} ≠ ${odo}`);
          compared++;
        } else if (prev) assert.ok(odo > prev.odo + (r.reading.distance_km as number) - 0.051, `${r.deviceId}: the odometer went back over a gap`);
        prev = { odo, seq };
      }
    }
    assert.ok(compared > 100, `only ${compared} consecutive trips compared`);
  });
});
