import type { Catalogue, Model } from '../../protocol/models.ts';
import { FEATURE_LAYER, ident, literal, type InfluxStore } from '../../core/influx/index.ts';
import { escTag, timeNs } from '../../core/influx/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { DAY_MS, type DeviceEvent, type FeatureFilter, type FeatureSpec } from '../detectors/index.ts';

/** Error events kept per device and day in the layer; a day with more keeps the first ones. */
export const MAX_EVENTS_PER_DAY = 500;
const EVENT_MEASUREMENT = 'device_event';
/** Lines per write to InfluxDB. */
const WRITE_LINES = 5_000;
/** Device-days one build query may return (sets how many days one query spans). */
const BUILD_DEVICE_DAYS = 50_000;
/**
 * A day built at time T holds what InfluxDB had at T; a reading that reached InfluxDB after T
 * but was received before it (a spool draining) is covered by this margin.
 */
const BUILD_MARGIN_MS = 15 * 60_000;

/**
 * The name of one aggregate in the layer, as resolved for a device's model: the measurement,
 * the aggregate, the field and the condition (`washer_cycle.count.load_kg.load_kg>7.5`). Two
 * rules that need the same aggregate share it; a rule whose threshold changes needs a new one.
 */
export function featureKey(spec: FeatureSpec, filter: FeatureFilter | undefined): string {
  return `${spec.measurement}.${spec.agg}.${spec.field}${filter ? `.${filter.field}${filter.op}${filter.value}` : ''}`;
}

/** An InfluxQL regular expression that matches exactly these ids (device or model ids). */
export const idRegex = (ids: readonly string[]) => `/^(?:${ids.map((id) => id.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$/`;

/** What the layer holds: per kind, the features its rules read, and whether they read error events. */
export interface LayerPlan {
  specs: ReadonlyMap<string, FeatureSpec[]>;
  events: ReadonlySet<string>;
}

interface Output { alias: string; select: string; key: string }
/** One build query: a measurement, a condition (model and filter), the aggregates it answers. */
interface Group { kind: string; measurement: string; where: string; outputs: Output[] }

/** One device-day of the layer as computed: feature key → value, and the day's error events. */
interface Row { values: Map<string, number>; events: DeviceEvent[] }

/**
 * The daily feature layer in InfluxDB (measurement `daily_features`): per device and UTC day,
 * the aggregates the rules read, computed once a day is complete. `ensure` builds the days a
 * run needs that are missing or lack a feature (one query per measurement and condition, for
 * the whole fleet); `refresh` recomputes the device-days the gateway marked late.
 */
export class FeatureLayer {
  queries = 0;
  /** Device-days written so far (built or recomputed). */
  rowsWritten = 0;
  private readonly groups = new Map<string, Group[]>();
  private readonly keys: string[];

  constructor(private readonly store: InfluxStore, private readonly catalogue: Catalogue, readonly plan: LayerPlan) {
    const all = new Set<string>();
    for (const [kind, specs] of plan.specs) {
      const groups = groupsOf(kind, specs, catalogue);
      this.groups.set(kind, groups);
      for (const g of groups) for (const o of g.outputs) all.add(`${kind}:${o.key}`);
    }
    for (const kind of plan.events) all.add(`${kind}:_events`);
    this.keys = [...all].sort();
  }

  /** Feature key of each spec for a device of this model. */
  keysOf(specs: readonly FeatureSpec[], model: Model | undefined): string[] {
    return specs.map((s) => featureKey(s, s.filter?.(model)));
  }

  private async series(q: string) {
    this.queries++;
    return this.store.series(q);
  }

  /**
   * Builds every day of [startMs, startMs + days) that is not in the layer yet or lacks one of
   * the plan's features. `fleet` sizes the queries (device-days per query). Returns the days built.
   */
  async ensure(startMs: number, days: number, fleet: number, onProgress?: (p: { kind: string; done: number; total: number }) => void): Promise<number> {
    const endMs = startMs + days * DAY_MS;
    const built = new Map<number, string[]>();
    for (const s of await this.series(`SELECT "keys" FROM ${ident(FEATURE_LAYER.days)} WHERE time >= ${startMs}ms AND time < ${endMs}ms`)) {
      for (const v of s.values) built.set(Number(v[0]), JSON.parse(String(v[1])) as string[]);
    }
    const missing: Array<{ day: number; keys: string[] }> = [];
    for (let day = startMs; day < endMs; day += DAY_MS) {
      const had = built.get(day);
      if (!had || this.keys.some((k) => !had.includes(k))) missing.push({ day, keys: had ? [...new Set([...had, ...this.keys])].sort() : this.keys });
    }
    const perQuery = Math.max(1, Math.min(31, Math.floor(BUILD_DEVICE_DAYS / Math.max(1, fleet))));
    let done = 0;
    onProgress?.({ kind: 'features', done, total: missing.length });
    for (let i = 0; i < missing.length;) {
      // A run of consecutive missing days, at most perQuery long.
      let j = i + 1;
      while (j < missing.length && j - i < perQuery && missing[j].day === missing[j - 1].day + DAY_MS) j++;
      const from = missing[i].day;
      const to = missing[j - 1].day + DAY_MS;
      const at = Date.now() - BUILD_MARGIN_MS;
      const rows = await this.aggregate(from, to, undefined);
      const devices = new Map<number, number>();
      const lines: string[] = [];
      for (const [key, byDay] of rows) {
        const { kind, device } = splitKey(key);
        for (const [day, row] of byDay) {
          lines.push(rowLine(kind, device, day, row, at));
          devices.set(day, (devices.get(day) ?? 0) + 1);
        }
      }
      await this.write(lines);
      this.rowsWritten += lines.length;
      // The manifest last: a day is listed only once all of its rows are stored.
      await this.write(missing.slice(i, j).map((m) => `${FEATURE_LAYER.days} keys=${JSON.stringify(JSON.stringify(m.keys))},devices=${devices.get(m.day) ?? 0}i,builtAt=${Date.now()}i ${timeNs(m.day, 0)}`));
      done += j - i;
      i = j;
      onProgress?.({ kind: 'features', done, total: missing.length });
    }
    return missing.length;
  }

  /**
   * Recomputes the device-days of `devices` (one kind) in the range that readings arrived for
   * after they had been computed (the gateway's late markers newer than the day's `_at`).
   * `current` gives each device-day's `_at` as read; returns the device-days recomputed.
   */
  async refresh(kind: string, devices: readonly string[], startMs: number, days: number, current: (device: string, day: number) => number | undefined): Promise<Map<string, Map<number, Row & { at: number }>>> {
    const out = new Map<string, Map<number, Row & { at: number }>>();
    if (devices.length === 0) return out;
    const endMs = startMs + days * DAY_MS;
    const stale = new Map<number, Map<string, number>>(); // day → device → marker time
    for (const s of await this.series(`SELECT "at", "device_id" FROM ${ident(FEATURE_LAYER.late)} WHERE time >= ${startMs}ms AND time < ${endMs}ms AND "device_id" =~ ${idRegex(devices)}`)) {
      for (const [time, at, device] of s.values as Array<[number, number, string]>) {
        const had = current(device, time);
        if (had !== undefined && had >= at) continue;
        const m = stale.get(time) ?? new Map<string, number>();
        stale.set(time, m);
        m.set(device, Math.max(at, m.get(device) ?? 0));
      }
    }
    for (const [day, byDevice] of stale) {
      const ids = [...byDevice.keys()];
      const rows = await this.aggregate(day, day + DAY_MS, { kind, ids });
      const lines: string[] = [];
      for (const id of ids) {
        const row = rows.get(deviceKey(kind, id))?.get(day) ?? { values: new Map(), events: [] };
        const at = byDevice.get(id)!;
        lines.push(rowLine(kind, id, day, row, at));
        const m = out.get(id) ?? new Map();
        out.set(id, m);
        m.set(day, { ...row, at });
      }
      await this.write(lines);
      this.rowsWritten += lines.length;
    }
    return out;
  }

  /**
   * The layer's rows of [fromMs, toMs) from raw data: of the whole fleet, or of some devices of
   * one kind. Keyed by kind and device, then day.
   */
  private async aggregate(fromMs: number, toMs: number, only: { kind: string; ids: string[] } | undefined): Promise<Map<DeviceKey, Map<number, Row>>> {
    const rows = new Map<DeviceKey, Map<number, Row>>();
    const rowOf = (kind: string, device: string, day: number) => {
      const key = deviceKey(kind, device);
      const byDay = rows.get(key) ?? new Map<number, Row>();
      rows.set(key, byDay);
      const row: Row = byDay.get(day) ?? { values: new Map(), events: [] };
      byDay.set(day, row);
      return row;
    };
    const time = `time >= ${fromMs}ms AND time < ${toMs}ms`;
    const devices = only ? ` AND "device_id" =~ ${idRegex(only.ids)}` : '';
    for (const [kind, groups] of this.groups) {
      if (only && only.kind !== kind) continue;
      for (const g of groups) {
        const q = `SELECT ${g.outputs.map((o) => `${o.select} AS ${ident(o.alias)}`).join(', ')} FROM ${ident(g.measurement)} WHERE ${time} AND "kind" = ${literal(kind)}${devices}${g.where ? ` AND ${g.where}` : ''} GROUP BY time(1d), "device_id" fill(none)`;
        for (const s of await this.series(q)) {
          const device = s.tags?.device_id;
          if (!device) continue;
          const cols = g.outputs.map((o) => s.columns.indexOf(o.alias));
          for (const v of s.values) {
            const day = Number(v[0]);
            const row = rowOf(kind, device, day);
            g.outputs.forEach((o, i) => {
              const x = v[cols[i]];
              if (typeof x === 'number' && Number.isFinite(x)) row.values.set(o.key, x);
            });
          }
        }
      }
    }
    for (const kind of this.plan.events) {
      if (only && only.kind !== kind) continue;
      const q = `SELECT "code", "severity", "device_id" FROM ${ident(EVENT_MEASUREMENT)} WHERE ${time} AND "kind" = ${literal(kind)}${devices}`;
      for (const s of await this.series(q)) {
        const cols = ['code', 'severity', 'device_id'].map((c) => s.columns.indexOf(c));
        for (const v of s.values) {
          const timeMs = Number(v[0]);
          const row = rowOf(kind, String(v[cols[2]]), timeMs - (((timeMs % DAY_MS) + DAY_MS) % DAY_MS));
          if (row.events.length < MAX_EVENTS_PER_DAY) row.events.push({ timeMs, code: String(v[cols[0]]), severity: String(v[cols[1]]) });
        }
      }
    }
    return rows;
  }

  private async write(lines: string[]): Promise<void> {
    for (let i = 0; i < lines.length; i += WRITE_LINES) {
      const res = await this.store.write(lines.slice(i, i + WRITE_LINES).join('\n'));
      if (!res.ok) throw new UsageGatewayError('GW_ERR_INFLUX_UNAVAILABLE', `InfluxDB did not store the daily feature layer: ${res.error}`);
    }
  }
}

type DeviceKey = string & { readonly __deviceKey: unique symbol };
const deviceKey = (kind: string, device: string) => `${kind}\n${device}` as DeviceKey;
const splitKey = (key: DeviceKey) => ({ kind: key.slice(0, key.indexOf('\n')), device: key.slice(key.indexOf('\n') + 1) });

/** `daily_features,device_id=…,kind=… <key>=<value>,…,_at=…i,_events="[…]" <day>`. */
function rowLine(kind: string, device: string, day: number, row: Row, at: number): string {
  let fields = '';
  for (const [k, v] of row.values) fields += `${escTag(k)}=${v},`;
  if (row.events.length > 0) {
    const json = JSON.stringify(row.events.sort((a, b) => a.timeMs - b.timeMs).map((e) => [e.timeMs, e.code, e.severity]));
    fields += `_events="${json.replace(/[\\"]/g, (c) => `\\${c}`)}",`;
  }
  return `${FEATURE_LAYER.daily},device_id=${escTag(device)},kind=${escTag(kind)} ${fields}_at=${Math.trunc(at)}i ${timeNs(day, 0)}`;
}

/**
 * The build queries of one kind: specs without a condition share one query per measurement;
 * a condition that depends on the model (a capacity) gets one query per distinct condition,
 * for the models that have it (`"model" =~ …`), and one for devices of a model not in the
 * catalogue.
 */
function groupsOf(kind: string, specs: readonly FeatureSpec[], catalogue: Catalogue): Group[] {
  const groups = new Map<string, Group & { models: Set<string> | null }>();
  const models = catalogue.ofKind(kind);
  const add = (spec: FeatureSpec, filter: FeatureFilter | undefined, model: string | null | undefined) => {
    // model: a model id, null for models not in the catalogue, undefined for every model.
    const cond = filter ? `${ident(filter.field)} ${filter.op} ${filter.value}` : '';
    const id = `${spec.measurement}\n${cond}\n${model === undefined ? '*' : 'by-model'}${model === null ? '\nunknown' : ''}`;
    const g = groups.get(id) ?? { kind, measurement: spec.measurement, where: cond, outputs: [], models: model === undefined ? null : new Set() };
    groups.set(id, g);
    if (model) g.models?.add(model);
    const key = featureKey(spec, filter);
    if (!g.outputs.some((o) => o.key === key)) g.outputs.push({ alias: `k${g.outputs.length}`, select: `${spec.agg}(${ident(spec.field)})`, key });
  };
  for (const spec of specs) {
    if (!spec.filter) {
      add(spec, undefined, undefined);
      continue;
    }
    const unfiltered: string[] = [];
    for (const m of models) {
      const f = spec.filter(m);
      if (f) add(spec, f, m.id);
      else unfiltered.push(m.id);
    }
    if (unfiltered.length > 0) add(spec, undefined, undefined);
    const f = spec.filter(undefined);
    if (f) add(spec, f, null);
    else if (unfiltered.length === 0) add(spec, undefined, undefined);
  }
  const known = idRegex(models.map((m) => m.id));
  return [...groups.entries()].map(([id, g]) => {
    const unknown = id.endsWith('\nunknown');
    const modelCond = g.models === null ? '' : unknown ? (models.length > 0 ? `"model" !~ ${known}` : '') : `"model" =~ ${idRegex([...g.models])}`;
    return { kind, measurement: g.measurement, where: [modelCond, g.where].filter(Boolean).join(' AND '), outputs: g.outputs };
  });
}
