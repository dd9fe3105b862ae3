import type { Registry } from '../../core/registry/index.ts';
import { FEATURE_LAYER, ident, literal, ROLLUP_RP, type InfluxStore } from '../../core/influx/index.ts';
import { readingsFor } from '../../protocol/kinds/index.ts';
import type { Catalogue } from '../../protocol/models.ts';
import { ownerReportSchema, type OwnerReport } from '../../protocol/owner-report.ts';
import { SENSITIVE_CATEGORIES } from '../../protocol/registry.ts';
import type { Trigger } from '../../protocol/trigger.ts';
import type { Rule } from '../rules.ts';
import type { StateStore } from '../store/state.ts';

export interface ReportSources {
  registry: Registry;
  state: StateStore;
  influx: InfluxStore;
  catalogue: Catalogue;
  rules: readonly Rule[];
}

const iso = (t: unknown) => new Date(t instanceof Date ? t.getTime() : (t as string | number)).toISOString();

/** The words of a figure name: `overload_share` → `overload share`. */
const words = (name: string) => name.replace(/_/g, ' ');
const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 10 ? 2 : 1));

/** The evidence of a trigger as one paragraph: what was seen, the figures against the thresholds, when. */
export function explain(t: Pick<Trigger, 'evidence'>): string {
  const e = t.evidence;
  const figures = Object.entries(e.figures).map(([k, v]) => `${words(k)} ${num(v)}`).join(', ');
  const thresholds = Object.entries(e.thresholds).map(([k, v]) => `${words(k)} ${num(v)}`).join(', ');
  const cohort = e.cohort ? ` Compared with ${e.cohort.devices} other ${e.cohort.model} devices.` : '';
  return `${e.summary}${figures ? ` Measured: ${figures}.` : ''}${thresholds ? ` Thresholds: ${thresholds}.` : ''}${cohort} Days looked at: ${e.window.from.slice(0, 10)} up to ${e.window.to.slice(0, 10)}.`;
}

const SENSITIVE_WORDS = 'Sensitive: a change in how a household uses its products can have personal causes (bereavement, job loss); such triggers go to people through the inbox, not to automated channels unless configured.';

/** Points of one device in one measurement since a time: how many, the first and the last. */
async function measurementData(influx: InfluxStore, deviceId: string, measurement: string, sinceMs: number): Promise<{ measurement: string; points: number; from?: string; to?: string } | undefined> {
  const where = `WHERE "device_id" = ${literal(deviceId)} AND time >= ${sinceMs}ms`;
  const [count] = await influx.query<Record<string, unknown>>(`SELECT count(*) FROM ${ident(measurement)} ${where}`);
  const points = count ? Math.max(0, ...Object.entries(count).filter(([k]) => k.startsWith('count')).map(([, v]) => Number(v) || 0)) : 0;
  if (points === 0) return undefined;
  const [first] = await influx.query<{ time: unknown }>(`SELECT * FROM ${ident(measurement)} ${where} ORDER BY time ASC LIMIT 1`);
  const [last] = await influx.query<{ time: unknown }>(`SELECT * FROM ${ident(measurement)} ${where} ORDER BY time DESC LIMIT 1`);
  return { measurement, points, ...(first ? { from: iso(first.time) } : {}), ...(last ? { to: iso(last.time) } : {}) };
}

/**
 * Everything held about one owner: their devices with the data kept since they have each one,
 * every trigger about them with its evidence in words, what the policy held back and why, and
 * every consent change they made. Validated against the protocol's schema before it is returned.
 */
export async function buildOwnerReport(owner: string, src: ReportSources, nowMs = Date.now()): Promise<OwnerReport> {
  await src.registry.refresh();
  const ruleText = new Map(src.rules.map((r) => [r.id, r.description.trim().replace(/\s+/g, ' ')]));
  const devices: OwnerReport['devices'] = [];
  for (const d of src.registry.devices().filter((x) => x.owner === owner)) {
    // The first owner owns the device's whole history (as for the policy); a resale starts a new one.
    const since = Date.parse(d.ownerSince) > Date.parse(d.createdAt) + 1_000 ? Date.parse(d.ownerSince) : 0;
    const readings = [...(readingsFor(d.kind, 'telemetry')?.values() ?? []), ...(readingsFor(d.kind, 'events')?.values() ?? [])];
    // The daily feature layer summarises the readings (a point per 7 days) and marks the days
    // whose readings came late: both are data of the device, shown and erased with it.
    const measurements = [...readings.map((r) => r.measurement), FEATURE_LAYER.daily, FEATURE_LAYER.late, 'trigger', 'trigger_feedback'];
    const data: OwnerReport['devices'][number]['data'] = [];
    const rollups: Record<string, number> = {};
    let dataError: string | undefined;
    try {
      for (const m of [...new Set(measurements)]) {
        const got = await measurementData(src.influx, d.id, m, since);
        if (got) data.push(got);
      }
      for (const [k, n] of Object.entries(await src.influx.devicePoints(d.id))) if (k.startsWith(`${ROLLUP_RP}.`)) rollups[k.slice(ROLLUP_RP.length + 1)] = n;
    } catch (err) {
      dataError = `the stored readings could not be counted: ${(err as Error).message}`;
    }
    devices.push({
      id: d.id, kind: d.kind, model: d.model, ...(src.catalogue.get(d.model)?.name ? { modelName: src.catalogue.get(d.model)!.name } : {}),
      registeredAt: d.createdAt, ownerSince: d.ownerSince, consent: d.consent, data, rollups, ...(dataError ? { dataError } : {}),
    });
  }
  const triggers: OwnerReport['triggers'] = [...src.state.ofOwner(owner)].map((rec) => {
    const t = rec.trigger;
    return {
      id: t.id, deviceId: t.deviceId, ruleId: t.ruleId, category: t.category, purpose: t.purpose,
      rule: ruleText.get(t.ruleId) ?? t.ruleId, offer: t.offer, createdAt: t.createdAt,
      explanation: explain(t), evidence: t.evidence, sensitive: SENSITIVE_CATEGORIES.includes(t.category),
      status: rec.status, feedback: rec.feedback.map((f) => ({ outcome: f.outcome, at: f.receivedAt ?? f.at })),
      delivery: Object.fromEntries(Object.entries(rec.delivery).map(([sink, s]) => [sink, { state: s.state, ...(s.state === 'dropped' || s.state === 'dead' ? { reason: s.lastError } : {}) }])),
    };
  });
  const held: OwnerReport['held'] = src.state.holdsOfOwner(owner)
    .sort((a, b) => b.at.localeCompare(a.at))
    .map((h) => ({ kind: h.kind, deviceId: h.deviceId, ruleId: h.ruleId, category: h.category as OwnerReport['held'][number]['category'], ...(h.reason ? { reason: h.reason } : {}), detail: h.detail, summary: h.summary, window: h.window, at: h.at }));
  const consentHistory: OwnerReport['consentHistory'] = src.registry.devices()
    .flatMap((d) => (d.consentHistory ?? []).filter((c) => c.owner === owner).map(({ owner: _o, ...c }) => ({ deviceId: d.id, ...c })))
    .sort((a, b) => a.at.localeCompare(b.at));
  const notes = [
    'Usage that a marketing rule noticed on a device whose owner gave no marketing consent is not kept, and so not listed here.',
    'Held back: the latest of each device and rule. A fault held without service consent was not passed on to anyone; it only kept offers and retention calls away while it was open.',
    'Readings of a device bought second-hand are counted from the day the owner took it over; earlier readings belong to its previous owner.',
  ];
  if (triggers.some((t) => t.sensitive)) notes.push(SENSITIVE_WORDS);
  return ownerReportSchema.parse({ version: 1, owner, generatedAt: new Date(nowMs).toISOString(), devices, triggers, held, consentHistory, notes });
}
