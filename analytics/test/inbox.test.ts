import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeFleet, writeFleet, type FleetOptions } from './helpers/fleet.ts';
import { analyticsEnv, DAY, TOKEN, type AnalyticsEnv } from './helpers/setup.ts';
import { ensureChromium } from '../../test/harness/browser.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const END = Math.floor(Date.now() / DAY) * DAY - DAY;
const opts: FleetOptions = { devices: 60, days: 90, endMs: END, seed: 21, prefix: 'i' };

let env: AnalyticsEnv;
let browser: Browser | undefined;

before(async () => {
  const executablePath = ensureChromium();
  env = await analyticsEnv();
  const fleet = makeFleet(opts);
  await writeFleet(env.store, fleet, opts);
  await env.register(fleet);
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  await browser?.close();
  await env?.stop();
});

test('the inbox lists the fleet\'s triggers, shows evidence with a chart, and stores a click on "declined"', async () => {
  const a = env.analytics();
  const run = await a.run({ asOfMs: END });
  assert.ok(run.fired >= 5);
  const { api } = await a.start();
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  const violations = await recordCspViolations(page);
  const res = await page.goto(`http://127.0.0.1:${api}/inbox`);
  // The page works under its own Content-Security-Policy: no inline script or style is needed.
  assert.match(res!.headers()['content-security-policy'], /script-src 'self'.*frame-ancestors 'none'/);
  await page.fill('#token', TOKEN);
  await page.click('#login button');
  await page.waitForSelector('#triggers tbody tr[data-id]');
  assert.equal(await page.locator('#triggers tbody tr[data-id]').count(), Math.min(50, run.fired));

  // Filter by category: only upsell rows remain.
  await page.selectOption('#filters [name=category]', 'upsell');
  await page.waitForFunction(() => [...document.querySelectorAll('#triggers tbody tr[data-id]')].every((tr) => tr.textContent!.includes('upsell')));
  const rows = page.locator('#triggers tbody tr[data-id]');
  assert.ok((await rows.count()) > 0);
  const id = (await rows.first().getAttribute('data-id'))!;
  await rows.first().click();
  await page.waitForSelector('#detail:not([hidden]) #d-summary:not(:empty)');
  const t = a.state.get(id)!.trigger;
  assert.equal(await page.textContent('#d-summary'), t.evidence.summary);
  // How sure the rule was, in plain words.
  assert.ok(t.evidence.confidence, `${t.ruleId}: no confidence in its evidence`);
  const facts = await page.textContent('#d-facts');
  assert.ok(facts!.includes(`Confidence${t.evidence.confidence.summary}`), `the confidence is not shown: ${facts}`);
  assert.match(t.evidence.confidence.summary, /sure|standard deviations|needs/);
  assert.equal(await page.locator('#d-chart svg rect.bar').count(), t.evidence.series!.points.filter((p) => p[1] !== null).length);
  const figures = await page.textContent('#d-figures');
  for (const v of Object.values(t.evidence.figures)) assert.ok(figures!.includes(String(v)), `figure ${v} not shown`);

  await page.click('#d-actions button[data-outcome=declined]');
  await page.waitForFunction(() => document.querySelector('#d-status')!.textContent!.startsWith('Recorded: declined'));
  const stored = a.state.get(id)!;
  assert.equal(stored.status, 'declined');
  assert.equal(stored.feedback.at(-1)!.outcome, 'declined');
  assert.equal(stored.feedback.at(-1)!.by, 'inbox');
  assert.deepEqual(violations, [], 'the inbox broke its Content-Security-Policy');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}analytics-inbox.png`, fullPage: true });
  await page.close();
});

test('Swagger UI on /docs renders the API under the same Content-Security-Policy, and no page can be framed', async () => {
  const a = env.analytics();
  const { api } = await a.start();
  const page = await browser!.newPage();
  const violations = await recordCspViolations(page);
  const res = await page.goto(`http://127.0.0.1:${api}/docs`);
  assert.match(res!.headers()['content-security-policy'], /frame-ancestors 'none'/);
  await page.waitForSelector('.swagger-ui .opblock-summary-path[data-path="/api/triggers/{id}/feedback"]');
  assert.deepEqual(violations, [], 'Swagger UI broke the Content-Security-Policy');

  // A page of another origin that frames the inbox gets an empty frame: the browser refuses it.
  const other = await browser!.newPage();
  const blocked = new Promise<string>((resolve) => other.on('console', (m) => { if (/frame-ancestors|Refused to (display|frame)/i.test(m.text())) resolve(m.text()); }));
  await other.setContent(`<iframe src="http://127.0.0.1:${api}/inbox"></iframe>`);
  assert.match(await blocked, /frame-ancestors|Refused to (display|frame)/i);
  const frame = other.frames().find((f) => f !== other.mainFrame());
  assert.equal(await frame?.$('#login').catch(() => null) ?? null, null, 'the framed inbox must not render');
  await page.close();
  await other.close();
  await a.stop();
});

/** Collects the page's Content-Security-Policy violations (the browser's securitypolicyviolation events). */
async function recordCspViolations(page: Page): Promise<string[]> {
  const found: string[] = [];
  await page.exposeFunction('__cspViolation', (v: string) => { found.push(v); });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { __cspViolation: (v: string) => void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`));
  });
  return found;
}
