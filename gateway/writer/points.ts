import type { Reading } from '../../protocol/readings.ts';
import { formatPoint, timeNs, type Point } from './line-protocol.ts';

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
  const subMs = r.seq !== undefined ? r.seq : fnv1a(JSON.stringify(r.values)) % 1_000_000;
  return { measurement: r.def.measurement, tags, fields, timeNs: timeNs(r.timeMs, subMs) };
}

export function readingsToLines(readings: readonly Reading[], device: DeviceTags): string {
  return readings.map((r) => formatPoint(readingToPoint(r, device))).join('\n');
}
