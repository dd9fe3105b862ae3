import type { MqttClient } from 'mqtt';
import { startTestGateway, type TestDevice, type TestGateway } from './gateway.ts';
import { connect, close } from './mqtt.ts';
import { DEFAULT_MODELS_PATH } from '../../config/load.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { triggerId, type Trigger, type TriggerOutcome } from '../../protocol/trigger.ts';
import { feedbackLine, triggerLine } from '../../analytics/delivery/influx.ts';
import { mulberry32 as rng } from './rng.ts';

/**
 * A small simulated fleet, sent through a real gateway over MQTT: one device of every
 * catalogue model, 30 days of backdated readings, error events, a few refused readings, one
 * live reading each, and triggers with feedback (written by analytics' own InfluxDB sink code).
 */
export interface Fleet {
  gw: TestGateway;
  devices: TestDevice[];
  clients: MqttClient[];
  readings: Record<string, number>;
  triggers: number;
  stop(): Promise<void>;
}

const DAY = 86_400_000;
const PROGRAMS = ['cotton', 'synthetics', 'wool', 'quick', 'eco', 'intensive', 'delicates'];


const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function history(kind: string, model: Record<string, unknown>, now: number, r: () => number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const start = now - 30 * DAY;
  if (kind === 'washer') {
    const cap = Number(model.capacity_kg);
    for (let d = 0; d < 30; d++) {
      for (let i = 0; i < 1 + Math.floor(r() * 2); i++) {
        const ts = start + d * DAY + Math.floor((7 + r() * 14) * 3_600_000);
        out.push({ type: 'cycle', ts, seq: out.length, program: PROGRAMS[Math.floor(r() * PROGRAMS.length)], load_kg: round(cap * (0.4 + r() * 0.8)), duration_s: 3_000 + Math.floor(r() * 5_000), water_l: round(35 + r() * 30), energy_kwh: round(0.4 + r()), temp_c: [20, 30, 40, 60][Math.floor(r() * 4)], spin_rpm: 800 + Math.floor(r() * 7) * 100, vibration_g: round(0.2 + r() * 0.6) });
      }
    }
  } else if (kind === 'fridge') {
    for (let t = start; t < now - 3_600_000; t += 3 * 3_600_000) {
      out.push({ type: 'state', ts: t, seq: out.length, temp_c: round(3 + r() * 3), freezer_temp_c: round(-20 + r() * 3), door_openings: Math.floor(r() * 12), door_open_s: round(r() * 90), compressor_duty: round(0.25 + r() * 0.4), energy_kwh: round(0.05 + r() * 0.1, 3) });
    }
  } else {
    let odo = 20_000 + Math.floor(r() * 30_000);
    const ev = model.powertrain === 'ev';
    for (let d = 0; d < 30; d++) {
      for (let i = 0; i < Math.floor(r() * 3); i++) {
        const km = round(3 + r() * 40, 1);
        odo += km;
        const ts = start + d * DAY + Math.floor((6 + r() * 17) * 3_600_000);
        out.push({ type: 'trip', ts, seq: out.length, distance_km: km, duration_s: Math.floor(km * 90), avg_speed_kmh: round(30 + r() * 40), max_speed_kmh: round(70 + r() * 60), harsh_brakes: Math.floor(r() * 3), harsh_accels: Math.floor(r() * 3), night_km: round(r() < 0.3 ? km * r() : 0, 1), odometer_km: round(odo, 1), ...(ev ? { energy_kwh: round(km * 0.16), battery_soh_pct: round(96 - d * 0.01, 2) } : { fuel_l: round(km * 0.06) }) });
      }
    }
  }
  return out;
}

/** One reading of each kind with no `ts`: stored at the gateway's receive time. */
function live(kind: string): Record<string, unknown> {
  if (kind === 'washer') return { type: 'cycle', program: 'eco', load_kg: 5, duration_s: 4_000, water_l: 40, energy_kwh: 0.7, temp_c: 40, spin_rpm: 1_200, vibration_g: 0.3 };
  if (kind === 'fridge') return { type: 'state', temp_c: 4, freezer_temp_c: -18, door_openings: 3, door_open_s: 20, compressor_duty: 0.4, energy_kwh: 0.08 };
  return { type: 'trip', distance_km: 12, duration_s: 1_200, avg_speed_kmh: 36, max_speed_kmh: 80, harsh_brakes: 0, harsh_accels: 1, night_km: 0, odometer_km: 60_000 };
}

const MEASUREMENT: Record<string, string> = { washer: 'washer_cycle', fridge: 'fridge_state', car: 'car_trip' };

export async function startFleet(opts: { statsIntervalS?: number } = {}): Promise<Fleet> {
  const gw = await startTestGateway({ overrides: { stats: { intervalS: opts.statsIntervalS ?? 1, instance: 'test-gw' } } });
  const catalogue = loadCatalogue(DEFAULT_MODELS_PATH);
  const r = rng(7);
  const now = Date.now();
  const devices: TestDevice[] = [];
  const clients: MqttClient[] = [];
  const readings: Record<string, number> = { washer_cycle: 0, fridge_state: 0, car_trip: 0, device_event: 0 };
  for (const model of catalogue.models) {
    const d = await gw.addDevice({ kind: model.kind, model: model.id, id: `${model.kind}-${model.id.toLowerCase()}` });
    devices.push(d);
    const client = await connect(gw.mqttUrl, d.id, d.secret);
    clients.push(client);
    // Devices report their firmware version: two versions across the catalogue, so boards can compare them.
    const firmware = devices.length % 2 ? '4.2.1' : '4.1.0';
    const past: Array<Record<string, unknown>> = history(model.kind, model, now, r).map((x) => ({ ...x, firmware }));
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(past), { qos: 1 });
    await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(live(model.kind)), { qos: 1 });
    readings[MEASUREMENT[model.kind]] += past.length + 1;
    // A warning on a day the washer was overloaded and one on a day it was not (other kinds: any day).
    const days = past.filter((x) => x.type === 'cycle').map((x) => ({ ts: Number(x.ts), over: Number(x.load_kg) > Number(model.capacity_kg) + 0.5 }));
    const dayOf = (over: boolean) => days.find((x) => x.over === over)?.ts ?? now - Math.floor(r() * 25) * DAY - 3_600_000;
    const events = [
      { type: 'error', ts: dayOf(true) + 1_000, code: 'E21', severity: 'warning', firmware },
      { type: 'error', ts: dayOf(false) + 1_000, code: model.kind === 'car' ? 'P0301' : 'E05', severity: 'critical', detail: 'seen twice', firmware },
      { type: 'error', code: 'E01', severity: 'info', firmware },
    ];
    await client.publishAsync(`devices/${d.id}/events`, JSON.stringify(events), { qos: 1 });
    readings.device_event += events.length;
  }
  // Refusals, so the boards' refusal panels have something to show: an invalid reading, bad JSON.
  await clients[0].publishAsync(`devices/${devices[0].id}/telemetry`, JSON.stringify({ type: 'cycle', load_kg: -1 }), { qos: 1 });
  await clients[0].publishAsync(`devices/${devices[0].id}/telemetry`, '{not json', { qos: 1 });

  const rules = [
    { ruleId: 'washer-overload', category: 'upsell' as const, purpose: 'marketing' as const, kind: 'washer', offer: { type: 'model-upgrade', target: 'WM-10' } },
    { ruleId: 'recurring-error', category: 'service' as const, purpose: 'service' as const, kind: 'fridge', offer: { type: 'service-visit' } },
    { ruleId: 'car-low-mileage', category: 'upsell' as const, purpose: 'marketing' as const, kind: 'car', offer: { type: 'insurance-pay-as-you-drive' } },
  ];
  const outcomes = ['accepted', 'converted', 'declined', undefined];
  const lines: string[] = [];
  let triggers = 0;
  for (const [i, d] of devices.entries()) {
    const rule = rules.find((x) => x.kind === d.kind)!;
    const created = now - (1 + (i % 20)) * DAY;
    const window = { from: new Date(created - 28 * DAY).toISOString(), to: new Date(created).toISOString() };
    const t: Trigger = {
      id: triggerId(rule.ruleId, 1, d.id, window.from, window.to), ruleId: rule.ruleId, ruleVersion: 1, category: rule.category, purpose: rule.purpose,
      deviceId: d.id, kind: d.kind, model: d.model, owner: `owner-${d.id}`, offer: rule.offer,
      evidence: { summary: 'simulated', window, figures: { value: i }, thresholds: { value: 0 } }, createdAt: new Date(created).toISOString(),
    };
    const o = outcomes[i % outcomes.length];
    lines.push(triggerLine(t));
    if (o) {
      const at = new Date(created + 3_600_000).toISOString();
      lines.push(feedbackLine(t, { outcome: o as TriggerOutcome, at, receivedAt: at }));
    }
    triggers++;
  }
  const res = await gw.store.write(lines.join('\n'));
  if (!res.ok) throw new Error(`cannot write the fleet's triggers: ${res.error}`);

  for (const [m, n] of Object.entries(readings)) {
    const got = await gw.waitForCount(m, n);
    if (got < n) throw new Error(`${m}: ${got} of ${n} readings reached InfluxDB`);
  }
  await gw.store.backfillRollups(now - 32 * DAY, now);
  return {
    gw, devices, clients, readings, triggers,
    async stop() {
      await Promise.all(clients.map((c) => close(c)));
      await gw.stop();
    },
  };
}
