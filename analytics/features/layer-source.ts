import type { Catalogue } from '../../protocol/models.ts';
import { FEATURE_LAYER, ident, type InfluxStore } from '../../core/influx/index.ts';
import { DAY_MS, type DeviceEvent, type DeviceInfo, type DeviceSeries, type FeatureSpec } from '../detectors/index.ts';
import { FeatureLayer, idRegex } from './layer.ts';
import { emptySeries, type DailySource } from './source.ts';

/**
 * Daily features read from the feature layer: one small row per device and day, whatever the
 * number of readings behind it. The device-days the gateway marked late since they were
 * computed are recomputed from raw data first (`FeatureLayer.refresh`), so a page sees them.
 * The days themselves must have been built (`FeatureLayer.ensure`) before the first page.
 */
export class LayerSource implements DailySource {
  private ownQueries = 0;

  constructor(private readonly store: InfluxStore, private readonly catalogue: Catalogue, readonly layer: FeatureLayer) {}

  get queries(): number {
    return this.ownQueries + this.layer.queries;
  }

  async page(devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number): Promise<Map<string, DeviceSeries>> {
    const out = emptySeries(devices, specs, startMs, days);
    if (devices.length === 0) return out;
    const endMs = startMs + days * DAY_MS;
    const keysOf = new Map<string, string[]>();
    const columns = new Set<string>(['_at']);
    for (const d of devices) {
      const keys = this.layer.keysOf(specs, this.catalogue.get(d.model));
      keysOf.set(d.id, keys);
      for (const k of keys) columns.add(k);
    }
    if (withEvents) columns.add('_events');
    const at = new Map<string, number>(); // device\nday → _at
    const events = new Map<string, Map<number, DeviceEvent[]>>();
    const setDay = (id: string, day: number, value: (key: string) => unknown, dayEvents: unknown) => {
      const s = out.get(id);
      if (!s) return;
      const i = Math.round((day - startMs) / DAY_MS);
      if (i < 0 || i >= days) return;
      keysOf.get(id)!.forEach((key, j) => {
        const v = value(key);
        s.daily.get(specs[j].name)![i] = typeof v === 'number' && Number.isFinite(v) ? v : NaN;
      });
      if (withEvents) {
        const byDay = events.get(id) ?? new Map<number, DeviceEvent[]>();
        events.set(id, byDay);
        byDay.set(day, Array.isArray(dayEvents) ? dayEvents : parseEvents(dayEvents));
      }
    };
    const cols = [...columns];
    this.ownQueries++;
    const series = await this.store.series(`SELECT ${cols.map(ident).join(', ')} FROM ${ident(FEATURE_LAYER.daily)} WHERE time >= ${startMs}ms AND time < ${endMs}ms AND "device_id" =~ ${idRegex(devices.map((d) => d.id))} GROUP BY "device_id"`);
    for (const s of series) {
      const id = s.tags?.device_id;
      if (!id || !out.has(id)) continue;
      const index = new Map(s.columns.map((c, i) => [c, i]));
      for (const v of s.values) {
        const day = Number(v[0]);
        at.set(`${id}\n${day}`, Number(v[index.get('_at')!]));
        setDay(id, day, (key) => v[index.get(key) ?? -1], withEvents ? v[index.get('_events')!] : undefined);
      }
    }
    // Late readings: the device-days marked since they were computed, recomputed now.
    const fresh = await this.layer.refresh(devices[0].kind, devices.map((d) => d.id), startMs, days, (id, day) => at.get(`${id}\n${day}`));
    for (const [id, byDay] of fresh) {
      for (const [day, row] of byDay) setDay(id, day, (key) => row.values.get(key), row.events);
    }
    if (withEvents) {
      for (const [id, byDay] of events) {
        const s = out.get(id)!;
        s.events = [...byDay.values()].flat().sort((a, b) => a.timeMs - b.timeMs);
      }
    }
    return out;
  }
}

function parseEvents(raw: unknown): DeviceEvent[] {
  if (typeof raw !== 'string' || raw === '') return [];
  return (JSON.parse(raw) as Array<[number, string, string]>).map(([timeMs, code, severity]) => ({ timeMs, code, severity }));
}
