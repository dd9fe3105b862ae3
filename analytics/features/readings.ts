import type { Catalogue } from '../../protocol/models.ts';
import type { Reading } from '../../protocol/readings.ts';
import { DAY_MS, type DeviceEvent, type DeviceInfo, type DeviceSeries, type FeatureFilter, type FeatureSpec } from '../detectors/index.ts';
import { emptySeries, type DailySource } from './source.ts';

/** A device history as the gateway would have stored it: its readings between two times, in any order. */
export interface ReadingHistory {
  readings(device: DeviceInfo, fromMs: number, toMs: number): Iterable<Reading>;
}

const EVENT_MEASUREMENT = 'device_event';

function passes(f: FeatureFilter | undefined, values: Record<string, unknown>): boolean {
  if (!f) return true;
  const v = values[f.field];
  if (typeof v !== 'number') return false;
  switch (f.op) {
    case '>': return v > f.value;
    case '>=': return v >= f.value;
    case '<': return v < f.value;
    default: return v <= f.value;
  }
}

interface Computed {
  startMs: number;
  days: number;
  daily: Map<string, Float64Array>;
  events: DeviceEvent[];
}

/**
 * Daily features computed in memory from a device history's readings: the same aggregates
 * InfluxDB computes with `GROUP BY time(1d)` (count and mean of the readings that carry the
 * field and pass the filter, sum, min, max; no value on a day without one), for a backtest
 * over generated history without writing it anywhere. Each device's history is read once and
 * kept (the cohort pass and the rules pass ask for the same devices): memory is devices ×
 * features × days numbers.
 */
export class ReadingsSource implements DailySource {
  readonly queries = 0;
  private readonly cache = new Map<string, Computed>();
  /** Readings read so far, for the progress report. */
  readingsRead = 0;

  /**
   * @param prefetch features to compute on a device's first read, per kind, besides the ones
   * asked for (so that a later request for more features does not read the history again).
   */
  constructor(private readonly history: ReadingHistory, private readonly catalogue: Catalogue, private readonly prefetch: ReadonlyMap<string, FeatureSpec[]> = new Map()) {}

  async page(devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number): Promise<Map<string, DeviceSeries>> {
    const out = emptySeries(devices, specs, startMs, days);
    for (const d of devices) {
      let c = this.cache.get(d.id);
      if (!c || c.startMs !== startMs || c.days !== days || specs.some((s) => !c!.daily.has(s.name))) {
        const all = new Map<string, FeatureSpec>();
        for (const s of [...specs, ...(this.prefetch.get(d.kind) ?? [])]) all.set(s.name, s);
        c = this.compute(d, [...all.values()], startMs, days);
        this.cache.set(d.id, c);
      }
      const s = out.get(d.id)!;
      for (const spec of specs) s.daily.set(spec.name, c.daily.get(spec.name)!);
      if (withEvents) s.events = c.events;
    }
    return out;
  }

  /** Forgets a device's computed features (a backtest that is done with it). */
  drop(deviceId: string): void {
    this.cache.delete(deviceId);
  }

  private compute(device: DeviceInfo, specs: FeatureSpec[], startMs: number, days: number): Computed {
    const model = this.catalogue.get(device.model);
    const byMeasurement = new Map<string, Array<{ spec: FeatureSpec; filter: FeatureFilter | undefined; acc: Float64Array; n: Float64Array }>>();
    for (const spec of specs) {
      const list = byMeasurement.get(spec.measurement) ?? [];
      byMeasurement.set(spec.measurement, list);
      list.push({ spec, filter: spec.filter?.(model), acc: new Float64Array(days), n: new Float64Array(days) });
    }
    const events: DeviceEvent[] = [];
    const endMs = startMs + days * DAY_MS;
    for (const r of this.history.readings(device, startMs, endMs)) {
      if (r.timeMs < startMs || r.timeMs >= endMs) continue;
      this.readingsRead++;
      const m = r.def.measurement;
      if (m === EVENT_MEASUREMENT) {
        events.push({ timeMs: r.timeMs, code: String(r.values.code), severity: String(r.values.severity) });
        continue;
      }
      const list = byMeasurement.get(m);
      if (!list) continue;
      const day = Math.floor((r.timeMs - startMs) / DAY_MS);
      for (const f of list) {
        const v = r.values[f.spec.field];
        if (v === undefined || v === null || !passes(f.filter, r.values)) continue;
        const x = typeof v === 'number' ? v : Number(v);
        switch (f.spec.agg) {
          case 'count':
            f.acc[day]++;
            break;
          case 'min':
            f.acc[day] = f.n[day] === 0 ? x : Math.min(f.acc[day], x);
            break;
          case 'max':
            f.acc[day] = f.n[day] === 0 ? x : Math.max(f.acc[day], x);
            break;
          default:
            f.acc[day] += x;
        }
        f.n[day]++;
      }
    }
    const daily = new Map<string, Float64Array>();
    for (const list of byMeasurement.values()) {
      for (const f of list) {
        const v = new Float64Array(days);
        for (let i = 0; i < days; i++) v[i] = f.n[i] === 0 ? NaN : f.spec.agg === 'mean' ? f.acc[i] / f.n[i] : f.acc[i];
        daily.set(f.spec.name, v);
      }
    }
    events.sort((a, b) => a.timeMs - b.timeMs);
    return { startMs, days, daily, events };
  }
}
