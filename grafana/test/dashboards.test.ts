import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { DASHBOARDS, SCHEMA_VERSION } from '../src/index.ts';
import { DASHBOARD_DIR, render } from '../build.ts';
import { provisionedDatasource, referencedVariables } from './grafana-query.ts';

/** The provisioned JSON, as Grafana reads it from disk. */
async function boards(): Promise<Array<[string, Record<string, any>]>> {
  const names = (await readdir(DASHBOARD_DIR)).filter((n) => n.endsWith('.json')).sort();
  return Promise.all(names.map(async (n) => [n, JSON.parse(await readFile(new URL(n, `file://${DASHBOARD_DIR}`), 'utf8'))] as [string, Record<string, any>]));
}

const allPanels = (b: Record<string, any>): Array<Record<string, any>> => b.panels.flatMap((p: any) => [p, ...(p.panels ?? [])]);

test('the JSON on disk is what grafana/src generates (run grafana/build.ts after editing a board)', async () => {
  const onDisk = await boards();
  assert.deepEqual(onDisk.map(([n]) => n), Object.keys(DASHBOARDS).sort());
  for (const [name, board] of Object.entries(DASHBOARDS)) {
    assert.equal(await readFile(new URL(name, `file://${DASHBOARD_DIR}`), 'utf8'), render(board), `${name} is out of date`);
  }
});

test('the six boards exist with unique uids and titles, and the schema version of Grafana 11', async () => {
  const list = await boards();
  assert.deepEqual(list.map(([, b]) => b.title).sort(), [
    'Usage Gateway · Device', 'Usage Gateway · Fleet', 'Usage Gateway · Gateway health', 'Usage Gateway · Product design', 'Usage Gateway · Triggers', 'Usage Gateway · Usage patterns',
  ]);
  assert.equal(new Set(list.map(([, b]) => b.uid)).size, list.length);
  for (const [name, b] of list) {
    assert.equal(b.schemaVersion, SCHEMA_VERSION, name);
    assert.ok(typeof b.uid === 'string' && /^[a-zA-Z0-9_-]{1,40}$/.test(b.uid), `${name}: uid`);
    assert.ok(b.time?.from && b.time?.to, `${name}: time range`);
  }
});

test('panel ids are unique positive integers and panels fit the 24-column grid without overlapping', async () => {
  for (const [name, b] of await boards()) {
    const panels = allPanels(b);
    const ids = panels.map((p) => p.id);
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0), `${name}: ids`);
    assert.equal(new Set(ids).size, ids.length, `${name}: duplicate panel id`);
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${name}: panel ${p.id} gridPos ${JSON.stringify(g)}`);
    }
    for (const [i, a] of panels.entries()) {
      for (const c of panels.slice(i + 1)) {
        const [g, h] = [a.gridPos, c.gridPos];
        const overlap = g.x < h.x + h.w && h.x < g.x + g.w && g.y < h.y + h.h && h.y < g.y + g.h;
        assert.ok(!overlap, `${name}: panels ${a.id} and ${c.id} overlap`);
      }
    }
  }
});

test('every datasource reference resolves to the provisioned datasource (or a server-side expression)', async () => {
  const ds = provisionedDatasource();
  assert.equal(ds.type, 'influxdb');
  assert.equal(ds.jsonData.version, 'InfluxQL');
  for (const [name, b] of await boards()) {
    const refs: Array<[string, any]> = [];
    for (const p of allPanels(b)) {
      if (p.type === 'row') continue;
      refs.push([`panel ${p.id}`, p.datasource]);
      const refIds = (p.targets ?? []).map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${name}: panel ${p.id} repeats a refId`);
      assert.ok(refIds.length > 0, `${name}: panel ${p.id} "${p.title}" has no query`);
      for (const t of p.targets) {
        if (t.datasource?.type === '__expr__') {
          for (const ref of String(t.expression).matchAll(/\$(\w+)/g)) assert.ok(refIds.includes(ref[1]), `${name}: panel ${p.id} expression refers to missing query ${ref[1]}`);
          continue;
        }
        refs.push([`panel ${p.id} target ${t.refId}`, t.datasource]);
        assert.equal(t.rawQuery, true, `${name}: panel ${p.id} target ${t.refId} is raw InfluxQL`);
      }
    }
    for (const v of b.templating.list) refs.push([`variable ${v.name}`, v.datasource]);
    for (const a of b.annotations.list.filter((x: any) => !x.builtIn)) refs.push([`annotation ${a.name}`, a.datasource]);
    for (const [where, ref] of refs) assert.deepEqual(ref, { type: ds.type, uid: ds.uid }, `${name}: ${where}`);
  }
});

test('template variables are defined before they are used', async () => {
  for (const [name, b] of await boards()) {
    const defined: string[] = [];
    for (const v of b.templating.list) {
      for (const used of referencedVariables(v.query)) assert.ok(defined.includes(used), `${name}: variable ${v.name} uses $${used} before it is defined`);
      defined.push(v.name);
    }
    assert.equal(new Set(defined).size, defined.length, `${name}: duplicate variable`);
    const texts: Array<[string, string]> = [];
    for (const p of allPanels(b)) for (const t of p.targets ?? []) if (t.query) texts.push([`panel ${p.id} ${t.refId}`, t.query]);
    for (const a of b.annotations.list) if (a.query) texts.push([`annotation ${a.name}`, a.query]);
    for (const [where, q] of texts) {
      for (const used of referencedVariables(q)) assert.ok(defined.includes(used), `${name}: ${where} uses undefined $${used}`);
    }
  }
});

test('the boards filter by kind, model and device where they should', async () => {
  const vars = Object.fromEntries((await boards()).map(([n, b]) => [n, b.templating.list.map((v: any) => v.name)]));
  assert.deepEqual(vars['fleet.json'], ['kind', 'model']);
  assert.deepEqual(vars['device.json'].slice(0, 3), ['kind', 'model', 'device']);
  assert.ok(vars['usage-patterns.json'].includes('model'));
  assert.ok(vars['triggers.json'].includes('kind') && vars['triggers.json'].includes('model'));
  assert.deepEqual(vars['product-design.json'], ['kind', 'model']);
});

test('the product design board shows model aggregates only: no device variable, no query that returns devices', async () => {
  const board = (await boards()).find(([n]) => n === 'product-design.json')![1];
  assert.ok(!board.templating.list.some((v: any) => /device/.test(v.name) || /device_id/.test(v.query)), 'no device variable');
  for (const p of allPanels(board)) {
    for (const t of p.targets ?? []) {
      if (!t.query) continue;
      // device_id appears only inside a subquery or in per device-day counts the panel sums per model before showing.
      const outer = t.query.replace(/\((SELECT[^()]*(\([^()]*\)[^()]*)*)\)/g, '(…)');
      const perDay = /GROUP BY time\(1d\), "device_id", "model"/.test(t.query);
      if (/device_id/.test(outer)) {
        assert.ok(perDay, `panel "${p.title}" returns devices: ${t.query}`);
        assert.ok((p.transformations ?? []).some((x: any) => x.id === 'groupBy' && !('device_id' in x.options.fields)), `panel "${p.title}" sums its device-days per model`);
      }
    }
    assert.doesNotMatch(JSON.stringify(p.transformations ?? []), /"device_id":\{"aggregations":\[\],"operation":"groupby"/, `panel "${p.title}" groups by device`);
  }
});

test('long-range panels read the roll-ups', async () => {
  let longRange = 0;
  for (const [, b] of await boards()) {
    for (const p of allPanels(b).filter((x) => x.timeFrom)) {
      longRange++;
      for (const t of p.targets) assert.match(t.query, /FROM "rollup"\."\w+_1[hd]"/, `panel "${p.title}" spans ${p.timeFrom} but reads raw data`);
    }
  }
  assert.ok(longRange >= 3, 'the usage board has its long-range panels');
});

test('the dashboards provider points Grafana at the folder the boards are mounted in', async () => {
  const doc = parseYaml(await readFile(new URL('../provisioning/dashboards/usage-gateway.yaml', import.meta.url), 'utf8'));
  assert.equal(doc.providers[0].type, 'file');
  assert.equal(doc.providers[0].options.path, '/var/lib/grafana/dashboards');
  const compose = parseYaml(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8'));
  const volumes: string[] = compose.services.grafana.volumes;
  assert.ok(volumes.some((v) => /^\.\/grafana\/dashboards:\/var\/lib\/grafana\/dashboards(:ro)?$/.test(v)), 'compose mounts the boards where the provider looks');
  assert.ok(volumes.some((v) => /^\.\/grafana\/provisioning:\/etc\/grafana\/provisioning(:ro)?$/.test(v)), 'compose mounts the provisioning');
});
