import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { loadConfig } from '../../config/load.ts';
import { fnv1a } from '../../core/hash.ts';
import { insightsReportSchema, TOO_FEW, type InsightsReport, type ModelInsight } from '../../protocol/insights.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import type { ConsentPurpose } from '../../protocol/registry.ts';
import { ensureChromium } from '../../test/harness/browser.ts';
import { runCli } from '../../test/harness/process.ts';
import { backfillSim } from '../../test/harness/sim-fleet.ts';
import { registryDirectory } from '../engine/directory.ts';
import { buildInsights, insightsHtml, insightsMarkdown, type InsightsOptions } from '../insights/index.ts';
import { analyticsEnv, DAY, TOKEN, type AnalyticsEnv } from './helpers/setup.ts';

type ManifestEntry = Awaited<ReturnType<typeof backfillSim>>['manifest']['devices'][number];

// The product-insight report on a seeded realistic fleet written to InfluxDB: it finds what the
// simulator planted, shows nothing built from fewer than minDevices devices, names no device or
// owner, counts only devices with the analytics consent, and its HTML draws every chart in a
// browser without network access.
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const EPOCH = Date.UTC(2026, 10, 23);
const DAYS = 60;
const catalogue = loadCatalogue(loadConfig({ env: {} }).models.path);
/** The model given analytics consent on too few devices. */
const SPARSE = 'WM-12';
const SPARSE_DEVICES = 12;
const NOW = EPOCH + 3_600_000;
/** Mostly washers: fridges report every ten minutes, and a few are enough to draw their charts. */
const MIX = { washer: 0.88, fridge: 0.03, car: 0.09 };

let env: AnalyticsEnv;
let fleet: ManifestEntry[];
let extra: ManifestEntry[];
const analyticsOn = new Set<string>();
const opts = (o: Partial<InsightsOptions> = {}): InsightsOptions => ({ fromMs: EPOCH - DAYS * DAY, toMs: EPOCH, minDevices: 20, pageSize: 250, nowMs: NOW, ...o });
const report = (o: Partial<InsightsOptions> = {}) => buildInsights({ store: env.store, catalogue, directory: registryDirectory(env.registry) }, opts(o));

/** About three owners in four consent to analytics; on the sparse model only a dozen devices do. */
function consentOf(d: ManifestEntry, sparseLeft: { n: number }): ConsentPurpose[] {
  // The simulator's own analytics consent is replaced by this test's draw.
  const base = (d.consent as ConsentPurpose[]).filter((p) => p !== 'analytics');
  const yes = d.model === SPARSE ? sparseLeft.n-- > 0 : fnv1a(`analytics:${d.owner}`) % 4 !== 0;
  if (yes) analyticsOn.add(d.id);
  return yes ? [...base, 'analytics'] : base;
}

before(async () => {
  env = await analyticsEnv();
  const a = await backfillSim(env.store, catalogue, { seed: 5, devices: 1300, epochMs: EPOCH, days: DAYS, prefix: 'ins', mix: MIX, batchPoints: 25_000 });
  fleet = a.manifest.devices;
  const sparse = { n: SPARSE_DEVICES };
  await env.registry.addDevices(fleet.map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: consentOf(d, sparse) })));
  // A second fleet in the same database, whose owners gave no analytics consent.
  const b = await backfillSim(env.store, catalogue, { seed: 6, devices: 150, epochMs: EPOCH, days: DAYS, prefix: 'nc', mix: MIX, batchPoints: 25_000 });
  extra = b.manifest.devices;
});
after(async () => {
  await env?.stop();
});

const model = (r: InsightsReport, id: string) => r.models.find((m) => m.model === id)!;
const washers = (r: InsightsReport) => r.models.filter((m) => m.kind === 'washer' && !m.tooFew);

describe('insights on a seeded fleet', () => {
  let r: InsightsReport;
  before(async () => {
    r = await report();
  });

  test('the report follows its schema and covers every model of every kind', () => {
    assert.doesNotThrow(() => insightsReportSchema.parse(r));
    for (const m of catalogue.models) assert.ok(r.models.some((x) => x.model === m.id), `${m.id} is in the report`);
    assert.ok(washers(r).length >= 4, 'the washer models with enough devices have figures');
  });

  test('the share of owners outgrowing each washer model is the planted one within 3 points', () => {
    let checked = 0;
    for (const m of washers(r)) {
      const counted = fleet.filter((d) => d.model === m.model && analyticsOn.has(d.id));
      // The simulator's own truth: the owner washes above the drum on most washes.
      const planted = (100 * counted.filter((d) => d.outgrows === true).length) / counted.length;
      const o = m.opportunities.outgrowing!;
      assert.equal(o.tooFew, false);
      assert.ok(Math.abs(o.share! - planted) <= 3, `${m.model}: report ${o.share}% (${o.outgrowing} of ${o.eligible}), planted ${planted.toFixed(1)}%`);
      assert.ok(o.lower! <= o.share! && o.share! <= o.upper!, `${m.model}: the interval holds the share`);
      if (planted > 3) checked++;
    }
    assert.ok(checked >= 3, 'models with planted overloaders were checked');
  });

  test('the firmware version planted to fault more is found, and only it', () => {
    const faulty = fleet.filter((d) => d.faultyFirmware);
    const models = [...new Set(faulty.map((d) => d.model))];
    const versions = [...new Set(faulty.map((d) => d.firmwareVersion))];
    assert.equal(models.length, 1, 'one model has a faulty firmware');
    assert.equal(versions.length, 1);
    const m = model(r, models[0]);
    const flagged = m.afterSales.comparisons.filter((c) => c.a.startsWith('firmware ') && c.differs && c.ratio! > 1);
    assert.deepEqual(flagged.map((c) => c.a), [`firmware ${versions[0]}`], `${m.model}: ${JSON.stringify(m.afterSales.comparisons)}`);
    assert.ok(flagged[0].lower! > 1, 'the interval excludes no difference');
    assert.ok(m.findings.some((f) => f.startsWith(`Firmware ${versions[0]} faults more`)), m.findings.join('\n'));
    const rate = m.afterSales.rates.find((x) => x.label === `firmware ${versions[0]}`)!;
    assert.ok(rate.events! > 0 && rate.devices! >= 20, 'with the counts behind it');
    for (const other of washers(r).filter((x) => x.model !== m.model)) {
      assert.ok(!other.findings.some((f) => /^Firmware .* faults more/.test(f)), `${other.model}: ${other.findings.join(' ')}`);
    }
  });

  test('washes on days with a wash above capacity come with more errors, with an interval that excludes no difference', () => {
    const k = r.kinds.find((x) => x.kind === 'washer')!;
    assert.equal(k.tooFew, false);
    const cmp = k.afterSales.comparisons[0];
    assert.equal(cmp.a, 'washes on days with a wash above capacity');
    assert.equal(cmp.tooFew, false);
    assert.ok(cmp.differs && cmp.lower! > 1, `overloaded against the rest: ${JSON.stringify(cmp)}`);
    const band = k.afterSales.rates.find((x) => x.label === cmp.a)!;
    const within = k.afterSales.rates.find((x) => x.label === 'washes on days within capacity')!;
    assert.ok(band.rate! > within.rate!, 'the overloaded band fails more often than the one within capacity');
    assert.ok(r.findings.some((f) => f.startsWith('Across washer models, washes on days with a wash above capacity: ')), r.findings.join('\n'));
  });

  test('every rate carries the counts behind it and an interval around it', () => {
    for (const m of r.models.filter((x) => !x.tooFew)) {
      for (const x of m.afterSales.rates.filter((y) => !y.tooFew)) {
        assert.ok(x.devices! >= 20 && x.exposure! > 0, `${m.model} ${x.label}: counts`);
        assert.ok(Math.abs(x.rate! - (x.events! / x.exposure!) * (x.per === '100 washes' ? 100 : 1000)) < 0.01 + x.rate! * 0.01, `${m.model} ${x.label}: the rate is events over exposure`);
        assert.ok(x.lower! <= x.rate! && x.rate! <= x.upper!, `${m.model} ${x.label}: the interval holds the rate`);
      }
    }
  });

  test('usage, opportunities and trends are shown per model', () => {
    const w = washers(r)[0];
    assert.deepEqual(w.usage.map((c) => c.id), ['load', 'programs', 'temperatures', 'per-week']);
    const programs = w.usage.find((c) => c.id === 'programs')!;
    const shown = programs.cells.filter((c) => !c.tooFew);
    assert.ok(shown.length >= 4, 'the common programs are shown');
    assert.ok(w.trends[0].cells.length >= 2, 'one trend point per month');
    assert.ok(r.models.filter((m) => !m.tooFew).every((m) => m.findings.length > 0), 'every model shown has findings');
  });

  test('cars and fridges: distance, speed, night share, battery health; door openings, temperature and duty by season', async () => {
    // The fleet holds few of them: with a lower minimum, their figures show.
    const low = await report({ minDevices: 5 });
    const cars = low.models.filter((m) => m.kind === 'car' && !m.tooFew);
    assert.ok(cars.length >= 2, 'car models with figures');
    for (const id of ['km-month', 'speed', 'night', 'trend-km']) {
      assert.ok(cars.some((m) => [...m.usage, ...m.trends].some((c) => c.id === id && c.cells.some((x) => !x.tooFew))), `cars: ${id}`);
    }
    assert.ok(cars.some((m) => m.usage.some((c) => c.id === 'soh-distance' && c.cells.some((x) => !x.tooFew && x.value! > 50 && x.value! <= 100))), 'battery health against distance for an EV');
    const fridges = low.models.filter((m) => m.kind === 'fridge' && !m.tooFew);
    assert.ok(fridges.length >= 1, 'fridge models with figures');
    assert.ok(fridges[0].usage.some((c) => c.id === 'door'), 'door openings a day');
    for (const id of ['door-season', 'temp-season', 'duty-season']) assert.ok(fridges[0].usage.some((c) => c.id === id && c.cells.some((x) => !x.tooFew)), `fridge: ${id}`);
  });

  test(`a model with fewer than minDevices consenting devices shows no figure, only "${TOO_FEW}"`, () => {
    const m = model(r, SPARSE);
    assert.equal(m.tooFew, true);
    assert.equal(m.devices, null);
    assert.deepEqual([m.usage, m.trends, m.afterSales.rates, m.afterSales.comparisons], [[], [], [], []]);
    assert.equal(m.opportunities.outgrowing, undefined);
    assert.match(m.findings.join(' '), new RegExp(TOO_FEW));
    assert.doesNotMatch(insightsMarkdown(r).split(`## ${SPARSE}`)[1].split('\n## ')[0], /\d+%|\d+ devices\./, 'no figure in words either');
    // The same model with a minimum it meets has figures: the suppression is the minimum's doing.
    return report({ model: SPARSE, minDevices: SPARSE_DEVICES }).then((low) => assert.equal(model(low, SPARSE).tooFew, false));
  });

  test('no cell, rate or outgrowing figure stands on fewer than minDevices devices', () => {
    const cells = r.models.flatMap((m: ModelInsight) => [...m.usage, ...m.trends].flatMap((c) => c.cells));
    assert.ok(cells.some((c) => c.tooFew), 'some cells are suppressed');
    for (const c of cells) assert.ok(c.tooFew ? c.value === null && c.devices === null : c.devices! >= 20, `${c.label}: ${c.devices}`);
    for (const m of r.models) for (const n of m.opportunities.outgrowing?.needs ?? []) assert.ok(n.tooFew || n.devices! >= 20);
  });

  test('no device or owner id appears in any format', () => {
    const outputs = { json: JSON.stringify(r), md: insightsMarkdown(r), html: insightsHtml(r) };
    const ids = [...fleet, ...extra].flatMap((d) => [d.id, d.owner]);
    for (const [format, text] of Object.entries(outputs)) {
      for (const id of ids) assert.ok(!text.includes(id), `${format} holds ${id}`);
    }
  });
});

test('devices without the analytics consent change no figure', async () => {
  const before = await report();
  // The second fleet joins the registry without analytics consent: nothing moves.
  await env.registry.addDevices(extra.map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, consent: ['marketing', 'service'] })));
  const withThem = await report();
  assert.deepEqual(withThem, before);
  // Once its owners consent, the same devices do count: the figures above would have moved.
  for (const d of extra.slice(0, 40)) await env.registry.setConsent(d.id, ['marketing', 'service', 'analytics']);
  const consented = await report();
  assert.notDeepEqual(consented.models.map((m) => m.devices), before.models.map((m) => m.devices));
  for (const d of extra.slice(0, 40)) await env.registry.setConsent(d.id, ['marketing', 'service']);
});

test('usage-gateway insights prints the same report as JSON, writes HTML to a file, and refuses a bad kind or model in words', async () => {
  const cliEnv = { UG_DATA_DIR: env.dir, UG_INFLUX_URL: env.influxUrl, UG_INFLUX_DATABASE: env.database, UG_LOG_LEVEL: 'silent' };
  const period = ['--from', new Date(EPOCH - DAYS * DAY).toISOString(), '--to', new Date(EPOCH).toISOString()];
  const json = await runCli(['insights', '--kind', 'washer', ...period, '--format', 'json'], cliEnv);
  assert.equal(json.code, 0, json.stderr);
  const printed = insightsReportSchema.parse(JSON.parse(json.stdout));
  assert.deepEqual({ ...printed, generatedAt: '' }, { ...(await report({ kind: 'washer' })), generatedAt: '' });
  const out = join(env.dir, 'washers.html');
  const html = await runCli(['insights', '--kind', 'washer', ...period, '--format', 'html', '--out', out], cliEnv);
  assert.equal(html.code, 0, html.stderr);
  assert.match(readFileSync(out, 'utf8'), /^<!doctype html>[\s\S]*<svg class="chart"/);
  const kind = await runCli(['insights', '--kind', 'toaster'], cliEnv);
  assert.equal(kind.code, 1);
  assert.match(kind.stderr, /^error GW_ERR_USAGE: --kind must be one of washer, fridge, car, not "toaster"/);
  const model = await runCli(['insights', '--model', 'WM-99'], cliEnv);
  assert.equal(model.code, 1);
  assert.match(model.stderr, /^error GW_ERR_MODEL_UNKNOWN: model "WM-99" is not in the catalogue/);
  const format = await runCli(['insights', '--format', 'pdf'], cliEnv);
  assert.equal(format.code, 2);
  assert.match(format.stderr, /GW_ERR_USAGE.*pdf/);
});

test('GET /api/insights answers the same JSON as the command, and refuses a bad query', async () => {
  const a = env.analytics();
  const { api } = await a.start();
  const url = (q: string) => `http://127.0.0.1:${api}/api/insights?${q}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const from = new Date(EPOCH - DAYS * DAY).toISOString();
  const to = new Date(EPOCH).toISOString();
  const res = await fetch(url(`kind=washer&from=${from}&to=${to}`), { headers: auth });
  assert.equal(res.status, 200);
  const body = insightsReportSchema.parse(await res.json());
  const direct = await report({ kind: 'washer' });
  assert.deepEqual({ ...body, generatedAt: '' }, { ...direct, generatedAt: '' });
  const bad = await fetch(url('model=WM-99'), { headers: auth });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { code: string; message: string } }).error.message, /WM-99.*not in the catalogue/);
  const odd = await fetch(url('kind=toaster'), { headers: auth });
  assert.equal(odd.status, 400);
  assert.equal((await fetch(url('kind=washer'))).status, 401, 'the token is needed');
  const spec = (await (await fetch(`http://127.0.0.1:${api}/docs/json`)).json()) as { paths: Record<string, unknown> };
  assert.ok(spec.paths['/api/insights'], 'documented in OpenAPI');
});

test('the HTML report opens in headless Chromium without network access, every chart drawn', async () => {
  const r = await report();
  const html = insightsHtml(r);
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = `${ARTIFACTS}insights-report.html`;
  writeFileSync(file, html);
  writeFileSync(`${ARTIFACTS}insights-report.md`, insightsMarkdown(r));
  const browser = await chromium.launch({
    executablePath: ensureChromium(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ offline: true, viewport: { width: 1100, height: 900 } });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) requests.push(req.url());
    });
    await page.goto(`file://${file}`);
    const expected = r.models.filter((m) => !m.tooFew).reduce((n, m) => n + m.usage.length + m.trends.length + 1, 0) + r.kinds.filter((k) => !k.tooFew).length;
    const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => {
      const box = s.getBoundingClientRect();
      // No named helper in here: the page runs this function's text, without the test's module around it.
      const [axis, vals] = ['text.axis', 'text.val'].map((sel) => [...s.querySelectorAll(sel)].map((t) => Number(t.textContent)).filter((v) => Number.isFinite(v)));
      return { id: s.getAttribute('data-chart'), w: box.width, h: box.height, marks: s.querySelectorAll('rect.bar, circle.dot, rect.few, circle.few').length, axisTop: Math.max(...axis), top: Math.max(...vals) };
    }));
    // The axis reaches the largest bar's figure (the top tick reads 100, not 1).
    for (const c of charts.filter((x) => Number.isFinite(x.top) && Number.isFinite(x.axisTop))) assert.ok(c.axisTop >= c.top, `chart ${c.id}: axis up to ${c.axisTop}, a bar of ${c.top}`);
    assert.equal(charts.length, expected, 'one drawn chart per usage chart, trend and rate table');
    for (const c of charts) assert.ok(c.w > 100 && c.h > 50 && c.marks > 0, `chart ${c.id} is drawn: ${JSON.stringify(c)}`);
    assert.ok(await page.locator(`text=${TOO_FEW}`).count() > 0, 'the suppressed model says so');
    assert.deepEqual(requests, [], 'the page fetched nothing');
    await page.screenshot({ path: `${ARTIFACTS}insights-report.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});
