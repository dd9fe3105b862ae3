import type { CompiledReading } from '../../protocol/reading-def.ts';
import type { Reading } from '../../protocol/readings.ts';
import { escMeasurement, escTag, formatField, timeNs, type Point } from './line-protocol.ts';

export interface DeviceTags {
  deviceId: string;
  kind: string;
  model: string;
}

/** FNV-1a, 32 bit: a cheap, stable hash of a reading's content. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Sub-millisecond part of a point's time: the reading's `seq`, else a hash of its content. */
function subMsOf(r: Reading): number {
  return r.seq !== undefined ? r.seq : fnv1a(JSON.stringify(r.values)) % 1_000_000;
}

/**
 * The point of one reading. Its key (measurement, tags, time) is a function of the reading
 * alone, so a replayed reading overwrites its own point and two distinct readings of the same
 * millisecond do not collide: the sub-millisecond part of the time is the reading's `seq`
 * (mod 10^6) when it has one, else a hash of its content.
 */
export function readingToPoint(r: Reading, device: DeviceTags): Point {
  const tags: Record<string, string> = { device_id: device.deviceId, kind: device.kind, model: device.model };
  const fields: Point['fields'] = {};
  for (const [name, value] of Object.entries(r.values)) {
    if (r.def.tags?.includes(name)) tags[name] = String(value);
    else fields[name] = { type: r.def.fieldTypes[name], value };
  }
  if (r.seq !== undefined) fields.seq = { type: 'int', value: r.seq };
  return { measurement: r.def.measurement, tags, fields, timeNs: timeNs(r.timeMs, subMsOf(r)) };
}

const DEVICE_TAG_KEYS = ['device_id', 'kind', 'model'] as const;

/** Per reading type: its measurement and tag keys (sorted with the device's) escaped, field keys escaped. */
interface Layout {
  measurement: string;
  tagKeys: Array<{ key: string; escaped: string; device: boolean }>;
  fieldKey: Map<string, string>;
}
const layouts = new WeakMap<CompiledReading, Layout>();

function layoutOf(def: CompiledReading): Layout {
  let l = layouts.get(def);
  if (!l) {
    const own = def.tags ?? [];
    const keys = [...new Set([...DEVICE_TAG_KEYS, ...own])].sort();
    l = {
      measurement: escMeasurement(def.measurement),
      tagKeys: keys.map((key) => ({ key, escaped: escTag(key), device: !own.includes(key) })),
      fieldKey: new Map(),
    };
    layouts.set(def, l);
  }
  return l;
}

/**
 * The line protocol of a message's readings: the same bytes as formatPoint(readingToPoint(r))
 * for each, without the intermediate objects, and with the device's tags escaped once per
 * message. This runs for every reading the gateway takes in, so it is kept lean.
 */
export function readingsToLines(readings: readonly Reading[], device: DeviceTags): string {
  const deviceTags: Record<string, string> = { device_id: escTag(device.deviceId), kind: escTag(device.kind), model: escTag(device.model) };
  const out: string[] = [];
  for (const r of readings) {
    const { def, values } = r;
    const layout = layoutOf(def);
    let line = layout.measurement;
    for (const t of layout.tagKeys) {
      const v = t.device ? deviceTags[t.key] : Object.hasOwn(values, t.key) ? escTag(String(values[t.key])) : '';
      if (v !== '') line += `,${t.escaped}=${v}`;
    }
    let fields = '';
    for (const name in values) {
      const value = values[name];
      if (value === undefined || value === null || def.tags?.includes(name)) continue;
      let key = layout.fieldKey.get(name);
      if (key === undefined) {
        key = escTag(name);
        layout.fieldKey.set(name, key);
      }
      fields += `${fields ? ',' : ''}${key}=${formatField(def.fieldTypes[name], value)}`;
    }
    if (r.seq !== undefined) fields += `${fields ? ',' : ''}seq=${formatField('int', r.seq)}`;
    out.push(`${line} ${fields} ${timeNs(r.timeMs, subMsOf(r))}`);
  }
  return out.join('\n');
}
