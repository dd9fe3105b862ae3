import type { Catalogue } from '../../protocol/models.ts';
import { ident, type InfluxStore } from '../../core/influx/index.ts';
import { idRegex } from './layer.ts';
import { DAY_MS, type DeviceEvent, type DeviceInfo, type DeviceSeries, type FeatureFilter, type FeatureSpec } from '../detectors/index.ts';


export const PERCENTILES = [10, 25, 50, 75, 90] as const;

/**
 * Where the daily features come from: InfluxDB (production and `analytics backtest`), or
 * readings generated in memory (a simulated fleet's backtest). Both compute the same aggregate
 * per device and UTC day, so the detectors see the same series.
 */
export interface DailySource {
  /** Queries made so far (InfluxQL), or 0. */
  readonly queries: number;
  /**
   * Daily features and events of a page of devices of one kind over [startMs, startMs + days).
   * `again`: the same page will be asked for again (with other features) later in the run.
   */
  page(devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number, hint?: { again?: boolean }): Promise<Map<string, DeviceSeries>>;
  /** Frees what the source kept for the run (temporary files). */
  close?(): Promise<void>;
}

/** `count("load_kg")`: the InfluxQL of a feature's aggregate. */
export function selectOf(s: FeatureSpec): string {
  return `${s.agg}(${ident(s.field)})`;
}

function whereOf(f: FeatureFilter | undefined): string {
  return f ? `${ident(f.field)} ${f.op} ${f.value}` : '';
}

/** Empty series (every day NaN) of each device for the specs. */
export function emptySeries(devices: DeviceInfo[], specs: FeatureSpec[], startMs: number, days: number): Map<string, DeviceSeries> {
  const out = new Map<string, DeviceSeries>();
  for (const d of devices) {
    const daily = new Map<string, Float64Array>();
    for (const s of specs) daily.set(s.name, new Float64Array(days).fill(NaN));
    out.set(d.id, { startMs, days, daily, events: [] });
  }
  return out;
}

/**
 * Reads what detectors need from InfluxDB in InfluxQL, one page of devices at a time: daily
 * aggregates per device (GROUP BY time(1d), device_id) and the raw error events.
 */
export class FeatureSource implements DailySource {
  queries = 0;

  constructor(private readonly store: InfluxStore, private readonly catalogue: Catalogue) {}

  private async query<T>(q: string): Promise<T[]> {
    this.queries++;
    return this.store.query<T>(q);
  }

  /** Daily features and events of a page of devices of one kind over [startMs, startMs + days). */
  async page(devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number): Promise<Map<string, DeviceSeries>> {
    const endMs = startMs + days * DAY_MS;
    const out = emptySeries(devices, specs, startMs, days);
    // One query per measurement and extra condition; a condition that depends on the model
    // (a capacity) splits the page by model.
    // Two features may share a condition for different models (the load above 80% of a 10 kg
    // drum and above the whole of an 8 kg one): a group answers each device only the features
    // whose condition it is for that device's model.
    const groups = new Map<string, { measurement: string; where: string; specs: Map<string, FeatureSpec>; ids: Map<string, Set<string>> }>();
    for (const d of devices) {
      const model = this.catalogue.get(d.model);
      for (const s of specs) {
        const where = whereOf(s.filter?.(model));
        const key = `${s.measurement}\n${where}`;
        const g = groups.get(key) ?? { measurement: s.measurement, where, specs: new Map(), ids: new Map() };
        g.specs.set(s.name, s);
        const names = g.ids.get(d.id) ?? new Set<string>();
        names.add(s.name);
        g.ids.set(d.id, names);
        groups.set(key, g);
      }
    }
    const time = `time >= ${startMs}ms AND time < ${endMs}ms`;
    for (const g of groups.values()) {
      const names = [...g.specs.keys()];
      const select = names.map((n, i) => `${selectOf(g.specs.get(n)!)} AS "f${i}"`).join(', ');
      const q = `SELECT ${select} FROM ${ident(g.measurement)} WHERE ${time} AND "device_id" =~ ${idRegex([...g.ids.keys()])}${g.where ? ` AND ${g.where}` : ''} GROUP BY time(1d), "device_id" fill(none)`;
      const rows = await this.query<Record<string, unknown> & { time: Date; device_id: string }>(q);
      for (const row of rows) {
        const s = out.get(row.device_id);
        if (!s) continue;
        const day = Math.floor((new Date(row.time).getTime() - startMs) / DAY_MS);
        if (day < 0 || day >= days) continue;
        const mine = g.ids.get(row.device_id);
        names.forEach((n, i) => {
          if (!mine?.has(n)) return;
          const v = row[`f${i}`];
          if (typeof v === 'number' && Number.isFinite(v)) s.daily.get(n)![day] = v;
        });
      }
    }
    if (withEvents && devices.length > 0) {
      const rows = await this.query<{ time: Date; device_id: string; code: string; severity: string }>(
        `SELECT "code", "severity", "device_id" FROM "device_event" WHERE ${time} AND "device_id" =~ ${idRegex(devices.map((d) => d.id))}`,
      );
      for (const r of rows) {
        const ev: DeviceEvent = { timeMs: new Date(r.time).getTime(), code: String(r.code), severity: String(r.severity) };
        out.get(r.device_id)?.events.push(ev);
      }
      for (const s of out.values()) s.events.sort((a, b) => a.timeMs - b.timeMs);
    }
    return out;
  }
}
