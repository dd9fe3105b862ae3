import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Catalogue } from '../../protocol/models.ts';
import { sha256 } from '../../core/hash.ts';
import { FEATURE_LAYER, ident } from '../../core/influx/index.ts';
import { DAY_MS, type DeviceInfo, type DeviceSeries, type FeatureSpec } from '../detectors/index.ts';
import { BLOCK_DAYS, blockOf, deviceCondition, type Blocks, type FeatureLayer, type Slot } from './layer.ts';
import { emptySeries, type DailySource } from './source.ts';

/**
 * Daily features read from the feature layer: one small point per device and 7 days, whatever
 * the number of readings behind them. The device-days the gateway marked late since they were
 * computed are recomputed from raw data first (`FeatureLayer.refresh`), so a page sees them.
 * The days themselves must have been built (`FeatureLayer.ensure`) before the first page.
 */
export class LayerSource implements DailySource {
  /**
   * Pages read once and to be read again (the cohort pass, then the rules pass): their blocks
   * wait in a file of a private temporary folder, so that InfluxDB is read once per page and
   * memory holds pages, not the fleet. Each file is removed once read, the folder at close.
   */
  private spill?: Promise<string>;
  private readonly spilled = new Map<string, string>();

  constructor(private readonly catalogue: Catalogue, readonly layer: FeatureLayer) {}

  get queries(): number {
    return this.layer.queries;
  }

  async close(): Promise<void> {
    if (this.spill) await rm(await this.spill, { recursive: true, force: true });
    this.spill = undefined;
    this.spilled.clear();
  }

  async page(devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number, hint?: { again?: boolean }): Promise<Map<string, DeviceSeries>> {
    const out = emptySeries(devices, specs, startMs, days);
    if (devices.length === 0) return out;
    const ids = devices.map((d) => d.id);
    const key = sha256(`${devices[0].kind}\n${startMs}\n${days}\n${ids.join('\n')}`).toString('hex');
    let blocks: Map<string, Blocks>;
    const file = this.spilled.get(key);
    if (file) {
      this.spilled.delete(key);
      const raw = await readFile(file, 'utf8');
      await rm(file, { force: true });
      blocks = new Map((JSON.parse(raw) as Array<[string, Array<[number, Array<Slot | null>]>]>).map(([id, b]) => [id, new Map(b)]));
    } else {
      blocks = await this.read(devices[0].kind, ids, startMs, days);
      if (hint?.again) {
        this.spill ??= mkdtemp(join(tmpdir(), 'ug-analytics-pages-'));
        const path = join(await this.spill, key);
        await writeFile(path, JSON.stringify([...blocks].map(([id, b]) => [id, [...b]])), { mode: 0o600 });
        this.spilled.set(key, path);
      }
    }
    this.fill(out, devices, specs, withEvents, startMs, days, blocks);
    return out;
  }

  /** The blocks of a page of devices of one kind, with the late device-days recomputed. */
  private async read(kind: string, ids: string[], startMs: number, days: number): Promise<Map<string, Blocks>> {
    const endMs = startMs + days * DAY_MS;
    const blocks = new Map<string, Blocks>();
    const series = await this.layer.series(`SELECT "f", "device_id" FROM ${ident(FEATURE_LAYER.daily)} WHERE time >= ${blockOf(startMs)}ms AND time < ${endMs}ms AND ${deviceCondition(ids)}`);
    for (const s of series) {
      const f = s.columns.indexOf('f');
      const dev = s.columns.indexOf('device_id');
      for (const v of s.values) {
        const id = String(v[dev]);
        const byBlock = blocks.get(id) ?? new Map<number, Array<Slot | null>>();
        blocks.set(id, byBlock);
        byBlock.set(Number(v[0]), JSON.parse(String(v[f])) as Array<Slot | null>);
      }
    }
    // Late readings: the device-days marked since they were computed, recomputed into `blocks`.
    await this.layer.refresh(kind, ids, startMs, days, blocks);
    return blocks;
  }

  /** The devices' series from their blocks: each day's values by its kind's keys of that day. */
  private fill(out: Map<string, DeviceSeries>, devices: DeviceInfo[], specs: FeatureSpec[], withEvents: boolean, startMs: number, days: number, blocks: Map<string, Blocks>): void {
    const endMs = startMs + days * DAY_MS;
    for (const d of devices) {
      const byBlock = blocks.get(d.id);
      if (!byBlock) continue;
      const s = out.get(d.id)!;
      const keys = this.layer.keysOf(specs, this.catalogue.get(d.model));
      const columns = specs.map((spec) => s.daily.get(spec.name)!);
      for (const [block, slots] of byBlock) {
        for (let i = 0; i < BLOCK_DAYS; i++) {
          const slot = slots[i];
          const day = block + i * DAY_MS;
          if (!slot || day < startMs || day >= endMs) continue;
          const index = this.layer.indexOf(day, d.kind);
          if (!index) continue;
          const at = Math.round((day - startMs) / DAY_MS);
          keys.forEach((key, j) => {
            const p = index.get(key);
            const v = p === undefined ? null : slot[1][p];
            if (typeof v === 'number') columns[j][at] = v;
          });
          if (withEvents && slot[2]) for (const [timeMs, code, severity] of slot[2]) s.events.push({ timeMs, code, severity });
        }
      }
      if (withEvents) s.events.sort((a, b) => a.timeMs - b.timeMs);
    }
  }
}
