import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ERROR_CODES } from '../../protocol/errors.ts';
import { commonEvents, KINDS } from '../../protocol/kinds/index.ts';
import type { ReadingDef } from '../../protocol/reading-def.ts';

const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  it('describes every code of protocol/errors.ts, and no code that is not there', () => {
    const text = doc('errors.md');
    const described = [...text.matchAll(/^\| `(GW_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    const defined = Object.keys(ERROR_CODES);
    assert.deepEqual(defined.filter((c) => !described.includes(c)), [], 'codes without a row in docs/errors.md');
    assert.deepEqual(described.filter((c) => !defined.includes(c)), [], 'rows for codes that protocol/errors.ts does not define');
    assert.equal(new Set(described).size, described.length, 'each code described once');
  });
});

/** The unit of a field, from its name (the protocol puts units in field names). */
function unitOf(name: string): string {
  const special: Record<string, string> = { compressor_duty: 'share of time', door_openings: 'count', harsh_brakes: 'count', harsh_accels: 'count' };
  if (special[name]) return special[name];
  const suffix: Array<[string, string]> = [['_kmh', 'km/h'], ['_kwh', 'kWh'], ['_km', 'km'], ['_kg', 'kg'], ['_ml', 'ml'], ['_rpm', 'rpm'], ['_pct', '%'], ['_s', 's'], ['_l', 'litres'], ['_c', '°C'], ['_g', 'g (acceleration)']];
  return suffix.find(([s]) => name.endsWith(s))?.[1] ?? '—';
}

function row(def: ReadingDef, name: string, schema: z.ZodType): string {
  let s = schema;
  const required = !(s instanceof z.ZodOptional);
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  const tag = def.tags?.includes(name) ? ', tag' : '';
  let type: string;
  let allowed: string;
  if (s instanceof z.ZodNumber) {
    type = s.format === 'safeint' ? 'integer' : 'float';
    allowed = `${s.minValue} … ${s.maxValue}`;
  } else if (s instanceof z.ZodEnum) {
    type = 'string';
    allowed = s.options.map((o) => `\`${String(o)}\``).join(', ');
  } else if (s instanceof z.ZodString) {
    type = 'string';
    const pattern = (s.def.checks ?? []).map((c) => (c._zod.def as { pattern?: RegExp }).pattern).find(Boolean);
    allowed = pattern ? `matching \`${pattern.source}\`` : `up to ${s.maxLength} characters`;
  } else {
    throw new Error(`${def.type}.${name}: describe this schema type in the docs test`);
  }
  return `| \`${name}\` | ${type}${tag} | ${unitOf(name)} | ${allowed} | ${required ? 'yes' : 'no'} |`;
}

/** The reading tables of docs/device-protocol.md, as protocol/kinds defines them. */
function readingTables(): string {
  const sections = [
    ...KINDS.flatMap((k) => k.readings.map((r) => ({ who: k.kind, r }))),
    ...commonEvents.map((r) => ({ who: 'any kind', r })),
  ];
  return sections.map(({ who, r }) => [
    `#### ${who} — \`${r.type}\` on \`${r.channel}\` (measurement \`${r.measurement}\`)`,
    '',
    r.description,
    '',
    '| field | type | unit | allowed values | required |',
    '|---|---|---|---|---|',
    ...Object.entries(r.fields.shape).map(([name, schema]) => row(r, name, schema as z.ZodType)),
  ].join('\n')).join('\n\n');
}

describe('docs/device-protocol.md', () => {
  it('its reading tables give every field with the type, range and optionality of protocol/kinds', () => {
    const text = doc('device-protocol.md');
    const tables = /<!-- readings:begin[^\n]*-->\n([\s\S]*?)\n<!-- readings:end -->/.exec(text)?.[1];
    assert.ok(tables, 'the readings markers are in docs/device-protocol.md');
    assert.equal(tables, readingTables(), 'the tables are stale: replace them with the expected text above');
  });

  it('names every whole-message and per-reading refusal code', () => {
    const text = doc('device-protocol.md');
    // The device-protocol section of protocol/errors.ts: from the first whole-message code to the last per-reading one.
    const all = Object.keys(ERROR_CODES);
    const deviceCodes = all.slice(all.indexOf('GW_ERR_PAYLOAD_TOO_LARGE'), all.indexOf('GW_ERR_TS_TOO_OLD') + 1);
    assert.ok(deviceCodes.length >= 12);
    for (const code of deviceCodes) assert.match(text, new RegExp(`\`${code}\``), code);
  });
});
