/**
 * Small builders for Grafana dashboard JSON, so the boards share one datasource
 * reference, one panel-id sequence and one layout rule. Queries are raw InfluxQL: the subset
 * that InfluxDB 1.x, 2.x (v1-compatible API) and 3.x all serve.
 */

/** The provisioned datasource (provisioning/datasources/influxdb.yaml). */
export const DATASOURCE = { type: 'influxdb', uid: 'usage-influxdb' } as const;
export const EXPRESSION = { type: '__expr__', uid: '__expr__' } as const;
/** Grafana 11 dashboard schema. */
export const SCHEMA_VERSION = 39;

export interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  query?: string;
  rawQuery?: boolean;
  resultFormat?: 'time_series' | 'table';
  alias?: string;
  hide?: boolean;
  type?: string;
  expression?: string;
}

export interface PanelSpec {
  type: 'timeseries' | 'stat' | 'table' | 'barchart' | 'bargauge' | 'piechart' | 'histogram' | 'text';
  title: string;
  description?: string;
  targets: Target[];
  /** Width (of 24) and height in grid units. */
  w?: number;
  h?: number;
  /** Minimum $__interval, e.g. "1h" for daily data. */
  interval?: string;
  /** Relative time override: long-range panels read the roll-ups over this range. */
  timeFrom?: string;
  unit?: string;
  options?: Record<string, unknown>;
  fieldConfig?: Record<string, unknown>;
  transformations?: Array<{ id: string; options: Record<string, unknown> }>;
}

export type Panel = Record<string, unknown> & { id: number; type: string; title: string; targets?: Target[]; panels?: Panel[] };

const REF_IDS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** InfluxQL targets, refIds A, B, C… in order. `[query, alias?]` or a bare query. */
export function influx(queries: Array<string | [string, string]>, format: 'time_series' | 'table' = 'time_series'): Target[] {
  return queries.map((q, i) => {
    const [query, alias] = Array.isArray(q) ? q : [q, undefined];
    return { refId: REF_IDS[i], datasource: { ...DATASOURCE }, query, rawQuery: true, resultFormat: format, ...(alias ? { alias } : {}) };
  });
}

/** A server-side expression (e.g. a ratio of two hidden queries). */
export function math(refId: string, expression: string): Target {
  return { refId, datasource: { ...EXPRESSION }, type: 'math', expression };
}

/** `"kind" =~ /^$kind$/ AND …`: the usual template-variable filter. */
export function filter(...vars: Array<[tag: string, variable: string]>): string {
  return vars.map(([tag, v]) => `"${tag}" =~ /^$${v}$/`).join(' AND ');
}

export interface VariableSpec {
  name: string;
  label: string;
  query: string;
  multi?: boolean;
  /** Hidden helper variables (e.g. the chosen device's model). */
  hide?: boolean;
}

export function variable(v: VariableSpec): Record<string, unknown> {
  const multi = v.multi ?? true;
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: { ...DATASOURCE },
    query: v.query,
    definition: v.query,
    refresh: 2,
    sort: 1,
    multi,
    includeAll: multi,
    ...(multi ? { allValue: '.*', current: { selected: true, text: ['All'], value: ['$__all'] } } : { current: {} }),
    hide: v.hide ? 2 : 0,
    options: [],
    regex: '',
    skipUrlSync: false,
  };
}

export interface AnnotationSpec {
  name: string;
  query: string;
  textColumn: string;
  tagsColumn?: string;
  color: string;
}

export interface DashboardSpec {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  time: { from: string; to: string };
  refresh?: string;
  variables: Record<string, unknown>[];
  annotations?: AnnotationSpec[];
  /** Rows of panels; a string starts a collapsible-free row header. */
  layout: Array<string | PanelSpec>;
}

function toPanel(p: PanelSpec, id: number, gridPos: Record<string, number>): Panel {
  return {
    id,
    type: p.type,
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: { ...DATASOURCE },
    gridPos,
    ...(p.interval ? { interval: p.interval } : {}),
    ...(p.timeFrom ? { timeFrom: p.timeFrom } : {}),
    targets: p.targets,
    fieldConfig: { defaults: { ...(p.unit ? { unit: p.unit } : {}), ...(p.fieldConfig ?? {}) }, overrides: [] },
    options: p.options ?? {},
    ...(p.transformations ? { transformations: p.transformations } : {}),
  };
}

/** Lays panels out left to right in rows of 24 columns; a string starts a new row header. */
export function dashboard(spec: DashboardSpec): Record<string, unknown> {
  const panels: Panel[] = [];
  let id = 0;
  let x = 0;
  let y = 0;
  let rowH = 0;
  for (const item of spec.layout) {
    if (typeof item === 'string') {
      y += rowH;
      x = 0;
      rowH = 0;
      panels.push({ id: ++id, type: 'row', title: item, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
      y += 1;
      continue;
    }
    const w = item.w ?? 12;
    const h = item.h ?? 8;
    if (x + w > 24) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    panels.push(toPanel(item, ++id, { h, w, x, y }));
    x += w;
    rowH = Math.max(rowH, h);
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: spec.tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    time: spec.time,
    timepicker: {},
    timezone: 'browser',
    refresh: spec.refresh ?? '',
    templating: { list: spec.variables },
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        ...(spec.annotations ?? []).map((a) => ({
          name: a.name,
          datasource: { ...DATASOURCE },
          enable: true,
          iconColor: a.color,
          query: a.query,
          textColumn: a.textColumn,
          tagsColumn: a.tagsColumn ?? '',
          titleColumn: '',
        })),
      ],
    },
    panels,
  };
}
