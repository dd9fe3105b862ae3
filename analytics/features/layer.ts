import type { Catalogue, Model } from '../../protocol/models.ts';
import { escString, escTag, FEATURE_LAYER, ident, LATE_AFTER_MS, literal, timeNs, type InfluxStore } from '../../core/influx/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { DAY_MS, type DeviceEvent, type FeatureFilter, type FeatureSpec } from '../detectors/index.ts';

/** Error events kept per device and day in the layer; a day with more keeps the first ones. */
export const MAX_EVENTS_PER_DAY = 500;
/** Days stored in one point: a device's days of one 7-day block (counted from 1970-01-01). */
export const BLOCK_DAYS = 7;
const BLOCK_MS = BLOCK_DAYS * DAY_MS;
const EVENT_MEASUREMENT = 'device_event';
/** Lines per write to InfluxDB. */
const WRITE_LINES = 5_000;
/** Device-days one build step may hold in memory (sets how many days one step spans). */
const BUILD_DEVICE_DAYS = 70_000;
/**
 * A day built at time T holds what InfluxDB had at T; a reading received before T that
 * reached InfluxDB after it (still in the gateway's spool) is covered by this margin: a late
 * reading received within it is recomputed, and a day is final only once it has ended more
 * than LATE_AFTER_MS (readings within it are not marked late) plus this margin before its build.
 */
const BUILD_MARGIN_MS = 15 * 60_000;

/** A day built at `builtAt` holds every reading that is not marked late. */
const final = (dayMs: number, builtAt: number) => builtAt >= dayMs + DAY_MS + LATE_AFTER_MS + BUILD_MARGIN_MS;

/** Start of the 7-day block that holds the day. */
export const blockOf = (dayMs: number) => Math.floor(dayMs / BLOCK_MS) * BLOCK_MS;

/**
 * One device-day in the layer: `[at, values, events?]`: `at`, the arrival time it is complete
 * up to (epoch ms); `values`, one per feature key of the day (the day's `keys` in
 * `feature_days`, of its kind, in that order; null: no value); `events`, the day's error events as
 * `[timeMs, code, severity]`. A block's point holds 7 of them (null: no data that day).
 */
export type Slot = [number, Array<number | null>, Array<[number, string, string]>?];

/** A device-day computed from raw readings: feature key → value, and its error events. */
export interface DayRow { values: Map<string, number>; events: DeviceEvent[] }

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

/**
 * `("device_id" = 'a' OR "device_id" = 'b' …)`: InfluxDB looks each series up in its index,
 * where a regular expression of the same ids is matched against every device's series (about
 * 4× slower for a page of 500 among 100,000 devices on InfluxDB 1.6).
 */
export const deviceCondition = (ids: readonly string[]) => `(${ids.map((id) => `"device_id" = ${literal(id)}`).join(' OR ')})`;

/** What the layer holds: per kind, the features its rules read, and whether they read error events. */
export interface LayerPlan {
  specs: ReadonlyMap<string, FeatureSpec[]>;
  events: ReadonlySet<string>;
}

interface Output { alias: string; select: string; key: string }
/** One build query: a measurement, a condition (model and filter), the aggregates it answers. */
interface Group { kind: string; measurement: string; where: string; outputs: Output[] }

/** A device's blocks as stored: block start → its 7 slots. */
export type Blocks = Map<number, Array<Slot | null>>;

/**
 * The daily feature layer in InfluxDB (measurement `daily_features`): per device and UTC day,
 * the aggregates the rules read, computed once a day is complete, a device's 7-day block to a
 * point (one JSON field `f`: InfluxDB reads one small point per device and week, not one per
 * feature and day). `ensure` builds the days a run needs that are missing or lack a feature
 * (one query per measurement and condition, for the whole fleet); `refresh` recomputes the
 * device-days the gateway marked late. `feature_days` lists each day built with its keys.
 */
export class FeatureLayer {
  queries = 0;
  /** Device-days written so far (built or recomputed). */
  rowsWritten = 0;
  private readonly groups = new Map<string, Group[]>();
  /** Per kind, the feature keys of the plan. */
  private readonly keys = new Map<string, string[]>();
  /** Per day built, per kind, its keys (the order of its slots' values), as read or written. */
  private readonly dayKeys = new Map<number, DayKeys>();
  private readonly keyIndex = new Map<string[], Map<string, number>>();

  constructor(private readonly store: InfluxStore, catalogue: Catalogue, readonly plan: LayerPlan) {
    for (const [kind, specs] of plan.specs) {
      const groups = groupsOf(kind, specs, catalogue);
      this.groups.set(kind, groups);
      this.keys.set(kind, [...new Set(groups.flatMap((g) => g.outputs.map((o) => o.key)))].sort());
    }
  }

  /** Feature key of each spec for a device of this model. */
  keysOf(specs: readonly FeatureSpec[], model: Model | undefined): string[] {
    return specs.map((s) => featureKey(s, s.filter?.(model)));
  }

  /** Position of each key in the slots of a day of a device of `kind` (undefined: the day was never built). */
  indexOf(dayMs: number, kind: string): Map<string, number> | undefined {
    const keys = this.dayKeys.get(dayMs)?.[kind];
    if (!keys) return undefined;
    let idx = this.keyIndex.get(keys);
    if (!idx) {
      idx = new Map(keys.map((k, i) => [k, i]));
      this.keyIndex.set(keys, idx);
    }
    return idx;
  }

  async series(q: string) {
    this.queries++;
    return this.store.series(q);
  }

  /**
   * Builds every day of [startMs, startMs + days) that is not in the layer yet or lacks one of
   * the plan's features (every day of it with `rebuild`). `fleet` sizes the steps (device-days
   * held at once). Returns the days built.
   */
  async ensure(startMs: number, days: number, fleet: number, onProgress?: (p: { kind: string; done: number; total: number }) => void, rebuild = false): Promise<number> {
    const endMs = startMs + days * DAY_MS;
    const interned = new Map<string, DayKeys>();
    const provisional = new Set<number>();
    for (const s of await this.series(`SELECT "keys", "builtAt" FROM ${ident(FEATURE_LAYER.days)} WHERE time >= ${startMs}ms AND time < ${endMs}ms`)) {
      for (const v of s.values) {
        const raw = String(v[1]);
        if (!interned.has(raw)) interned.set(raw, JSON.parse(raw) as DayKeys);
        this.dayKeys.set(Number(v[0]), interned.get(raw)!);
        if (!final(Number(v[0]), Number(v[2]))) provisional.add(Number(v[0]));
      }
    }
    // Missing, lacking a feature, or built so soon after it ended that readings not marked
    // late may have come after (built again now, or by the next run if it is still too soon).
    const missing: number[] = [];
    for (let day = startMs; day < endMs; day += DAY_MS) {
      const had = this.dayKeys.get(day);
      if (rebuild || !had || [...this.keys].some(([kind, keys]) => keys.some((k) => !had[kind]?.includes(k))) || provisional.has(day)) missing.push(day);
    }
    const perStep = Math.max(1, Math.min(BLOCK_DAYS, Math.floor(BUILD_DEVICE_DAYS / Math.max(1, fleet))));
    let done = 0;
    onProgress?.({ kind: 'features', done, total: missing.length });
    for (let i = 0; i < missing.length;) {
      // Consecutive missing days of one block, at most perStep of them.
      let j = i + 1;
      while (j < missing.length && j - i < perStep && missing[j] === missing[j - 1] + DAY_MS && blockOf(missing[j]) === blockOf(missing[i])) j++;
      await this.buildDays(missing.slice(i, j));
      done += j - i;
      i = j;
      onProgress?.({ kind: 'features', done, total: missing.length });
    }
    return missing.length;
  }

  /** Computes consecutive days of one block for the whole fleet and merges them into its points. */
  private async buildDays(days: number[]): Promise<void> {
    const at = Date.now() - BUILD_MARGIN_MS;
    const from = days[0];
    const to = days.at(-1)! + DAY_MS;
    const block = blockOf(from);
    const keysOfDay = new Map(days.map((d) => [d, unionKeys(this.dayKeys.get(d), this.keys)]));
    const rows = await this.aggregate(from, to, undefined);
    // The block's points as stored: the other days of the block are kept as they are.
    const stored = new Map<string, { kind: string; slots: Array<Slot | null> }>();
    for (const s of await this.series(`SELECT "f", "device_id", "kind" FROM ${ident(FEATURE_LAYER.daily)} WHERE time = ${block}ms`)) {
      for (const v of s.values) stored.set(String(v[2]), { kind: String(v[3]), slots: JSON.parse(String(v[1])) as Array<Slot | null> });
    }
    const lines: string[] = [];
    const touched = new Set<string>();
    for (const [key, byDay] of rows) {
      const { kind, device } = splitKey(key);
      const entry = stored.get(device) ?? { kind, slots: new Array<Slot | null>(BLOCK_DAYS).fill(null) };
      for (const d of days) {
        const row = byDay.get(d);
        entry.slots[(d - block) / DAY_MS] = row ? slotOf(row, keysOfDay.get(d)![kind] ?? [], at) : null;
      }
      touched.add(device);
      lines.push(blockLine(device, entry.kind, block, entry.slots));
      this.rowsWritten += byDay.size;
    }
    // Devices that had data on these days when they were built before, and have none now.
    for (const [device, entry] of stored) {
      if (touched.has(device) || days.every((d) => entry.slots[(d - block) / DAY_MS] === null)) continue;
      for (const d of days) entry.slots[(d - block) / DAY_MS] = null;
      lines.push(blockLine(device, entry.kind, block, entry.slots));
    }
    await this.write(lines);
    // The days' list last: a day is listed only once all of its points are stored.
    await this.write(days.map((d) => `${FEATURE_LAYER.days} keys=${escString(JSON.stringify(keysOfDay.get(d)))},devices=${[...rows.values()].filter((r) => r.has(d)).length}i,builtAt=${Date.now()}i ${timeNs(d, 0)}`));
    for (const d of days) this.dayKeys.set(d, keysOfDay.get(d)!);
  }

  /**
   * Recomputes the device-days of `devices` (one kind) in the range that readings arrived for
   * after they had been computed (the gateway's late markers newer than the day's `at`), and
   * stores them in their blocks (`blocks`: the devices' blocks as read, updated in place).
   * Returns the device-days recomputed.
   */
  async refresh(kind: string, devices: readonly string[], startMs: number, days: number, blocks: Map<string, Blocks>): Promise<Map<string, Map<number, DayRow>>> {
    const out = new Map<string, Map<number, DayRow>>();
    if (devices.length === 0) return out;
    const endMs = startMs + days * DAY_MS;
    const stale = new Map<number, Map<string, number>>(); // day → device → marker time
    for (const s of await this.series(`SELECT "at", "device_id" FROM ${ident(FEATURE_LAYER.late)} WHERE time >= ${startMs}ms AND time < ${endMs}ms AND ${deviceCondition(devices)}`)) {
      for (const [time, at, device] of s.values as Array<[number, number, string]>) {
        const slot = blocks.get(device)?.get(blockOf(time))?.[(time - blockOf(time)) / DAY_MS];
        if (slot && slot[0] >= at) continue;
        if (!this.dayKeys.has(time)) continue; // not built yet: its build will see the reading
        const m = stale.get(time) ?? new Map<string, number>();
        stale.set(time, m);
        m.set(device, Math.max(at, m.get(device) ?? 0));
      }
    }
    const changed = new Set<string>(); // device\nblock
    for (const [day, byDevice] of stale) {
      const ids = [...byDevice.keys()];
      const rows = await this.aggregate(day, day + DAY_MS, { kind, ids });
      for (const id of ids) {
        const row = rows.get(deviceKey(kind, id))?.get(day) ?? { values: new Map(), events: [] };
        const byBlock = blocks.get(id) ?? new Map<number, Array<Slot | null>>();
        blocks.set(id, byBlock);
        const block = blockOf(day);
        const slots = byBlock.get(block) ?? new Array<Slot | null>(BLOCK_DAYS).fill(null);
        byBlock.set(block, slots);
        slots[(day - block) / DAY_MS] = slotOf(row, this.dayKeys.get(day)![kind] ?? [], byDevice.get(id)!);
        changed.add(`${id}\n${block}`);
        const m = out.get(id) ?? new Map<number, DayRow>();
        out.set(id, m);
        m.set(day, row);
        this.rowsWritten++;
      }
    }
    const lines = [...changed].map((c) => {
      const [id, block] = c.split('\n');
      return blockLine(id, kind, Number(block), blocks.get(id)!.get(Number(block))!);
    });
    await this.write(lines);
    return out;
  }

  /**
   * Device-days of [fromMs, toMs) computed from raw data: of the whole fleet, or of some devices
   * of one kind. Keyed by kind and device, then day.
   */
  private async aggregate(fromMs: number, toMs: number, only: { kind: string; ids: string[] } | undefined): Promise<Map<DeviceKey, Map<number, DayRow>>> {
    const rows = new Map<DeviceKey, Map<number, DayRow>>();
    const rowOf = (kind: string, device: string, day: number) => {
      const key = deviceKey(kind, device);
      const byDay = rows.get(key) ?? new Map<number, DayRow>();
      rows.set(key, byDay);
      const row: DayRow = byDay.get(day) ?? { values: new Map(), events: [] };
      byDay.set(day, row);
      return row;
    };
    const time = `time >= ${fromMs}ms AND time < ${toMs}ms`;
    const devices = only ? ` AND ${deviceCondition(only.ids)}` : '';
    for (const [kind, groups] of this.groups) {
      if (only && only.kind !== kind) continue;
      for (const g of groups) {
        const q = `SELECT ${g.outputs.map((o) => `${o.select} AS ${ident(o.alias)}`).join(', ')} FROM ${ident(g.measurement)} WHERE ${time} AND "kind" = ${literal(kind)}${devices}${g.where ? ` AND ${g.where}` : ''} GROUP BY time(1d), "device_id" fill(none)`;
        for (const s of await this.series(q)) {
          const device = s.tags?.device_id;
          if (!device) continue;
          const cols = g.outputs.map((o) => s.columns.indexOf(o.alias));
          for (const v of s.values) {
            const row = rowOf(kind, device, Number(v[0]));
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
          const row = rowOf(kind, String(v[cols[2]]), Math.floor(timeMs / DAY_MS) * DAY_MS);
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

/** The keys of a day, per kind: the order of its slots' values. */
type DayKeys = Record<string, string[]>;

/** The keys a day held, with the plan's added (a rebuild never drops a feature another rule may read). */
function unionKeys(had: DayKeys | undefined, plan: ReadonlyMap<string, string[]>): DayKeys {
  const out: DayKeys = { ...had };
  for (const [kind, keys] of plan) out[kind] = [...new Set([...(had?.[kind] ?? []), ...keys])].sort();
  return out;
}

type DeviceKey = string & { readonly __deviceKey: unique symbol };
const deviceKey = (kind: string, device: string) => `${kind}\n${device}` as DeviceKey;
const splitKey = (key: DeviceKey) => ({ kind: key.slice(0, key.indexOf('\n')), device: key.slice(key.indexOf('\n') + 1) });

/** A day computed from raw data as a slot, its values in the order of the day's keys. */
function slotOf(row: DayRow, keys: readonly string[], at: number): Slot {
  const values = keys.map((k) => row.values.get(k) ?? null);
  if (row.events.length === 0) return [Math.trunc(at), values];
  return [Math.trunc(at), values, row.events.sort((a, b) => a.timeMs - b.timeMs).map((e) => [e.timeMs, e.code, e.severity])];
}

/** `daily_features,device_id=…,kind=… f="[slot, …]" <block start>`. */
function blockLine(device: string, kind: string, block: number, slots: Array<Slot | null>): string {
  return `${FEATURE_LAYER.daily},device_id=${escTag(device)},kind=${escTag(kind)} f=${escString(JSON.stringify(slots))} ${timeNs(block, 0)}`;
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
