import type { InfluxStore } from '../../core/influx/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { insightsReportSchema, TOO_FEW, type InsightsReport, type KindInsight, type ModelInsight } from '../../protocol/insights.ts';
import type { Catalogue } from '../../protocol/models.ts';
import { DAY_MS, type DeviceInfo } from '../detectors/index.ts';
import type { DeviceDirectory } from '../engine/evaluate.ts';
import { FeatureSource } from '../features/source.ts';
import { compare, fmt, RateAcc, type Ctx } from './aggregate.ts';
import { CarInsights } from './car.ts';
import { FridgeInsights } from './fridge.ts';
import type { KindInsights } from './kind.ts';
import { tooFewModel, WasherInsights } from './washer.ts';

export const INSIGHT_KINDS = ['washer', 'fridge', 'car'] as const;
/** The consent purpose without which a device counts for nothing in the report. */
export const INSIGHTS_PURPOSE = 'analytics';

export interface InsightsDeps {
  store: InfluxStore;
  catalogue: Catalogue;
  /** The devices to consider (the registry's, or a simulator manifest's); only those with the analytics consent are read. */
  directory: DeviceDirectory;
}

export interface InsightsOptions {
  fromMs: number;
  toMs: number;
  model?: string;
  kind?: string;
  minDevices: number;
  /** Devices per InfluxDB query page. */
  pageSize: number;
  /** Two-sided confidence level of every interval (default 0.95). */
  level?: number;
  /** The report's time (ages are counted to it); default now. */
  nowMs?: number;
}

const ident = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
const idRegex = (ids: string[]) => `/^(?:${ids.map((id) => id.replace(/\./g, '\\.')).join('|')})$/`;

/**
 * The product-insight report: pages through the devices (whole households, `pageSize` at a
 * time, as the rule engine does), keeps those whose owner consented to `analytics`, reads their
 * daily aggregates from InfluxDB (InfluxQL, GROUP BY time(1d), device_id: the engine's feature
 * source) and adds each device into sums per model; a page is dropped before the next is read,
 * so memory does not grow with the fleet. Each figure is then shown only when at least
 * `minDevices` devices stand behind it.
 */
export async function buildInsights(deps: InsightsDeps, o: InsightsOptions): Promise<InsightsReport> {
  const { catalogue } = deps;
  if (o.kind && !(INSIGHT_KINDS as readonly string[]).includes(o.kind)) {
    throw new UsageGatewayError('GW_ERR_USAGE', `--kind must be one of ${INSIGHT_KINDS.join(', ')}, not "${o.kind}"`);
  }
  const model = o.model ? catalogue.get(o.model) : undefined;
  if (o.model && !model) throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${o.model}" is not in the catalogue (see \`usage-gateway models\`)`);
  if (model && o.kind && model.kind !== o.kind) throw new UsageGatewayError('GW_ERR_MODEL_UNKNOWN', `model "${o.model}" is a ${model.kind}, not a ${o.kind}`);
  if (!(o.toMs > o.fromMs)) throw new UsageGatewayError('GW_ERR_USAGE', 'the period is empty: --to must be after --from');

  const ctx: Ctx = { minDevices: o.minDevices, level: o.level ?? 0.95 };
  const nowMs = o.nowMs ?? Date.now();
  const startMs = Math.floor(o.fromMs / DAY_MS) * DAY_MS;
  const days = Math.max(1, Math.ceil((o.toMs - startMs) / DAY_MS));
  const kinds = new Map<string, KindInsights>();
  const wanted = model ? [model.kind] : o.kind ? [o.kind] : [...INSIGHT_KINDS];
  for (const k of wanted) kinds.set(k, k === 'washer' ? new WasherInsights(catalogue) : k === 'fridge' ? new FridgeInsights() : new CarInsights(nowMs));

  const source = new FeatureSource(deps.store, catalogue);
  const counted = (d: DeviceInfo) => (d.consent ?? []).includes(INSIGHTS_PURPOSE) && kinds.has(d.kind) && (!o.model || d.model === o.model);
  for await (const page of deps.directory.pages(o.pageSize)) {
    const byKind = new Map<string, DeviceInfo[]>();
    for (const d of page.filter(counted)) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
    for (const [kind, devices] of byKind) {
      const k = kinds.get(kind)!;
      const series = await source.page(devices, k.specs, true, startMs, days);
      const endMs = startMs + days * DAY_MS;
      const tags = k.byTag ? await tagCounts(deps.store, k.byTag, devices, startMs, endMs) : new Map<string, Record<string, number>>();
      const firmware = await tagCounts(deps.store, { ...k.readings, tag: 'firmware' }, devices, startMs, endMs);
      for (const d of devices) k.add({ device: d, model: catalogue.get(d.model), series: series.get(d.id)!, tagCounts: tags.get(d.id) ?? {}, firmware: mostUsed(firmware.get(d.id)) });
    }
  }

  const models: ModelInsight[] = [];
  const findings: string[] = [];
  const kindViews: KindInsight[] = [];
  const pct = `${Math.round(ctx.level * 100)}%`;
  for (const [kind, k] of kinds) {
    // The kind as a whole: a usage band with too few devices in any one model may have enough across them.
    const pooled = k.pooled();
    const n = pooled.rates.model.devices;
    if (n < ctx.minDevices) kindViews.push({ kind, devices: null, tooFew: true, findings: [`${TOO_FEW}: no figure is shown for the ${kind}s as a whole.`], afterSales: { rates: [], comparisons: [] } });
    else {
      const afterSales = pooled.rates.view(k.per, pooled.topBand, ctx);
      const top = afterSales.comparisons[0];
      const kindFindings = !top.tooFew
        ? [top.differs
          ? `Across ${kind} models, ${pooled.topBand}: ${fmt(top.ratio!, 2)}× the errors per ${k.per.label} of the rest (${pct} CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`
          : `Across ${kind} models, ${pooled.topBand}: no clear difference in errors per ${k.per.label}, ${fmt(top.ratio!, 2)}× the rest (${pct} CI ${fmt(top.lower!, 2)}–${fmt(top.upper!, 2)}×).`]
        : [];
      kindViews.push({ kind, devices: n, tooFew: false, findings: kindFindings, afterSales });
      findings.push(...kindFindings);
    }
    const shown = k.finish(ctx, catalogue);
    // Every model of the range asked for appears, those without (enough) devices as "too few devices".
    for (const m of catalogue.ofKind(kind)) {
      if (o.model && m.id !== o.model) continue;
      if (!shown.some((s) => s.model === m.id)) shown.push(tooFewModel({ kind, model: m.id, name: m.name }));
    }
    shown.sort((a, b) => catalogueOrder(catalogue, a.model) - catalogueOrder(catalogue, b.model));
    models.push(...shown);
    // A model that fails more than the rest of its range.
    for (const m of shown) {
      const acc = k.modelRate(m.model);
      if (!acc || m.tooFew) continue;
      const rest = new RateAcc();
      for (const other of shown) if (other.model !== m.model && !other.tooFew) rest.merge(k.modelRate(other.model) ?? new RateAcc());
      const cmp = compare(`errors per ${k.per.label}: ${m.model} against the other ${kind} models`, { label: m.model, acc }, { label: `other ${kind} models`, acc: rest }, ctx);
      if (!cmp.tooFew && cmp.differs) {
        m.afterSales.comparisons.push(cmp);
        findings.push(`${m.model} reports ${fmt(cmp.ratio!, 2)}× the errors per ${k.per.label} of the other ${kind} models (${Math.round(ctx.level * 100)}% CI ${fmt(cmp.lower!, 2)}–${fmt(cmp.upper!, 2)}×).`);
      }
    }
  }
  return insightsReportSchema.parse({
    version: 1,
    generatedAt: new Date(nowMs).toISOString(),
    from: new Date(startMs).toISOString(),
    to: new Date(startMs + days * DAY_MS).toISOString(),
    minDevices: o.minDevices,
    purpose: INSIGHTS_PURPOSE,
    filter: { ...(o.model ? { model: o.model } : {}), ...(o.kind ? { kind: o.kind } : {}) },
    level: ctx.level,
    findings,
    kinds: kindViews,
    models,
  });
}

/** The firmware version with the most readings (a device updated within the period counts under the version it ran longest). */
function mostUsed(counts: Record<string, number> | undefined): string | undefined {
  let best: string | undefined;
  for (const [v, n] of Object.entries(counts ?? {})) if (v && (best === undefined || n > counts![best])) best = v;
  return best;
}

function catalogueOrder(catalogue: Catalogue, id: string): number {
  const i = catalogue.models.findIndex((m) => m.id === id);
  return i < 0 ? Number.MAX_SAFE_INTEGER : i;
}

/** Readings per device and tag value over the period (washes per program): one InfluxQL query per page. */
async function tagCounts(store: InfluxStore, t: { measurement: string; field: string; tag: string }, devices: DeviceInfo[], fromMs: number, toMs: number): Promise<Map<string, Record<string, number>>> {
  const rows = await store.query<{ device_id: string; count: number } & Record<string, unknown>>(
    `SELECT count(${ident(t.field)}) AS "count" FROM ${ident(t.measurement)} WHERE time >= ${fromMs}ms AND time < ${toMs}ms AND "device_id" =~ ${idRegex(devices.map((d) => d.id))} GROUP BY "device_id", ${ident(t.tag)}`,
  );
  const out = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const counts = out.get(r.device_id) ?? {};
    counts[String(r[t.tag] ?? '')] = Number(r.count);
    out.set(r.device_id, counts);
  }
  return out;
}
