import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UsageGatewayError } from '../protocol/errors.ts';
import { configSchema, type Config } from './schema.ts';

export const ENV_PREFIX = 'UG_';

/** The catalogue shipped with the project, used when models.path is not set. */
export const DEFAULT_MODELS_PATH = fileURLToPath(new URL('./models.yaml', import.meta.url));

export interface ResolvedConfig extends Config {
  registry: Config['registry'] & { path: string };
  models: Config['models'] & { path: string };
  spool: Config['spool'] & { dir: string };
  deadletter: Config['deadletter'] & { dir: string };
}

export interface Leaf {
  path: string[];
  envName: string;
  schema: z.ZodType;
  description?: string;
}

/** The schema inside one optional, default, nullable or prefault wrapper; the schema itself if none. */
function unwrapOnce(s: z.ZodType): z.ZodType {
  if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) return s.unwrap() as z.ZodType;
  if (s instanceof z.ZodPrefault) return s.def.innerType as z.ZodType;
  return s;
}

function unwrap(schema: z.ZodType): z.ZodType {
  for (let s = schema; ; ) {
    const inner = unwrapOnce(s);
    if (inner === s) return s;
    s = inner;
  }
}

/** How a secret setting is shown: not at all (`value`), or as a URL without what may carry a credential (`url`). */
export type SecretKind = 'value' | 'url';

export interface SecretSetting {
  /** Key path; `*` stands for every element of an array (serial.ports.*.secret). */
  path: string[];
  kind: SecretKind;
}

/** The `secret` mark of a setting's schema (config/schema.ts), on whichever wrapper it was put. */
function secretKindOf(schema: z.ZodType): SecretKind | undefined {
  for (let s = schema; ; ) {
    const secret = (s.meta() as { secret?: unknown } | undefined)?.secret;
    if (secret === true) return 'value';
    if (secret === 'url') return 'url';
    const inner = unwrapOnce(s);
    if (inner === s) return undefined;
    s = inner;
  }
}

/** Every setting marked secret in the schema: the one list that `config` and config errors hide. */
export function secretSettings(schema: z.ZodType = configSchema, path: string[] = []): SecretSetting[] {
  const kind = secretKindOf(schema);
  if (kind) return [{ path, kind }];
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape).flatMap(([key, child]) => secretSettings(child as z.ZodType, [...path, key]));
  }
  if (inner instanceof z.ZodArray) return secretSettings(inner.element as z.ZodType, [...path, '*']);
  return [];
}

/** The secret kind of a key path (array indexes as numbers or digits); undefined if it is no secret. */
export function secretKindAt(path: ReadonlyArray<PropertyKey>): SecretKind | undefined {
  return secretSettings().find((s) => s.path.length === path.length && s.path.every((k, i) => k === '*' ? /^\d+$/.test(String(path[i])) : k === String(path[i])))?.kind;
}

export const HIDDEN = '(set, hidden)';

function hide(value: unknown, kind: SecretKind): unknown {
  if (kind === 'url' && typeof value === 'string') {
    try {
      const u = new URL(value);
      const origin = `${u.protocol}//${u.host}`;
      const bare = !u.username && !u.password && (u.pathname === '' || u.pathname === '/') && !u.search && !u.hash;
      return bare ? origin : `${origin}/(credentials, path and query hidden)`;
    } catch {
      // not a URL after all: hidden whole
    }
  }
  return HIDDEN;
}

function maskAt(node: unknown, path: string[], kind: SecretKind): void {
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  const [key, ...rest] = path;
  for (const k of key === '*' ? Object.keys(obj) : [key]) {
    if (rest.length > 0) maskAt(obj[k], rest, kind);
    else if (obj[k] !== undefined && obj[k] !== null) obj[k] = hide(obj[k], kind);
  }
}

/** A copy of the config with every secret setting hidden, for showing to people. */
export function maskSecrets<T extends object>(config: T): T {
  const copy = structuredClone(config) as T;
  for (const s of secretSettings()) maskAt(copy, s.path, s.kind);
  return copy;
}

export function envNameOf(path: string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Every setting of the schema, with its environment variable name. */
export function configLeaves(schema: z.ZodType = configSchema, path: string[] = []): Leaf[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape).flatMap(([key, child]) => configLeaves(child as z.ZodType, [...path, key]));
  }
  return [{ path, envName: envNameOf(path), schema: inner, description: schema.description ?? inner.description }];
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

function envValue(leaf: Leaf, raw: string): unknown {
  // A number or a word (gateway.workers: 2 or auto): a number when it reads as one.
  if (leaf.schema instanceof z.ZodUnion && /^\s*\d+\s*$/.test(raw)) return Number(raw);
  if (leaf.schema instanceof z.ZodNumber) {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (leaf.schema instanceof z.ZodBoolean) {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    return raw;
  }
  return raw;
}

export interface LoadOptions {
  /** Config file (YAML or JSON); UG_CONFIG when not given. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof cur === 'object' && cur !== null
      ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

function deepFreeze<T>(obj: T): T {
  if (typeof obj === 'object' && obj !== null) {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}

/** ", got …" for a refused value, so the message shows what came; never for a secret setting. */
function gotValue(path: ReadonlyArray<PropertyKey>, input: unknown): string {
  if (input === undefined || (typeof input === 'object' && input !== null) || secretKindAt(path)) return '';
  const text = JSON.stringify(input);
  return `, got ${text.length > 80 ? `${text.slice(0, 77)}...` : text}`;
}

/**
 * Reads the config file, applies UG_* environment overrides, validates everything and
 * reports every problem at once, then returns the frozen config.
 */
export function loadConfig(opts: LoadOptions = {}): Readonly<ResolvedConfig> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.UG_CONFIG;
  const problems: string[] = [];
  let fromFile: Record<string, unknown> = {};
  if (file) {
    try {
      const doc = parseYaml(readFileSync(file, 'utf8'));
      if (doc !== null && doc !== undefined) {
        if (typeof doc !== 'object' || Array.isArray(doc)) problems.push(`${file}: expected a mapping of settings at the top level`);
        else fromFile = doc as Record<string, unknown>;
      }
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
    }
  }
  const leaves = configLeaves();
  const byEnv = new Map(leaves.map((l) => [l.envName, l]));
  const fromEnv: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === 'UG_CONFIG' || raw === undefined) continue;
    const leaf = byEnv.get(name);
    if (!leaf) continue; // UG_* variables of other tools (tests, scripts) are not ours to refuse
    setPath(fromEnv, leaf.path, envValue(leaf, raw));
    origin.set(leaf.path.join('.'), `environment ${name}`);
  }
  const merged = deepMerge(deepMerge(fromFile, fromEnv), opts.overrides ?? {});
  const parsed = configSchema.safeParse(merged, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      const where = origin.get(key) ?? (file ? `config file ${file}` : 'defaults');
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) problems.push(`${key ? `${key}.${k}` : k}: unknown setting; see \`usage-gateway config --docs\` (from ${where})`);
        continue;
      }
      const got = gotValue(issue.path, (issue as { input?: unknown }).input);
      problems.push(`${key || '(top level)'}: ${got ? issue.message.replace(/, received [a-z]+$/, '') : issue.message}${got} (from ${where})`);
    }
  }
  if (problems.length > 0) {
    throw new UsageGatewayError('GW_ERR_CONFIG', `invalid configuration, ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
  }
  const cfg = parsed.data as Config;
  const data = resolve(cfg.dataDir);
  const resolved: ResolvedConfig = {
    ...cfg,
    dataDir: data,
    registry: { ...cfg.registry, path: resolve(cfg.registry.path ?? `${data}/registry.json`) },
    models: { ...cfg.models, path: resolve(cfg.models.path ?? DEFAULT_MODELS_PATH) },
    spool: { ...cfg.spool, dir: resolve(cfg.spool.dir ?? `${data}/spool`) },
    deadletter: { ...cfg.deadletter, dir: resolve(cfg.deadletter.dir ?? `${data}/deadletter`) },
  };
  return deepFreeze(resolved);
}

/** Markdown table of every setting, for docs/configuration.md. */
export function configDocs(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const get = (path: string[]) => path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], defaults);
  const rows = configLeaves().map((l) => {
    const def = get(l.path);
    const kind = secretKindAt(l.path);
    const secret = kind === 'value' ? ' Secret: `usage-gateway config` hides it.' : kind === 'url' ? ' May hold a credential: `usage-gateway config` shows only its scheme, host and port.' : '';
    return `| \`${l.path.join('.')}\` | \`${l.envName}\` | ${def === undefined ? '—' : `\`${JSON.stringify(def)}\``} | ${l.description ?? ''}${secret} |`;
  });
  return ['| key | environment | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
