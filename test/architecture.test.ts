import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { forbiddenImports, importCycles, importsOf, sourceFiles, type Edge } from './harness/import-graph.ts';

const root = join(import.meta.dirname, '..');
const edges = importsOf(root, sourceFiles(root));
const show = (es: Edge[]) => es.map((e) => `${e.from}:${e.line} imports ${e.to}`).join('\n');

test('the import graph is read (a broken reader would pass every rule)', () => {
  assert.ok(edges.length > 300, `only ${edges.length} imports found`);
  assert.ok(edges.some((e) => e.from.startsWith('gateway/') && e.to.startsWith('core/')));
  assert.ok(edges.some((e) => e.from.startsWith('cli/') && e.to.startsWith('analytics/')));
});

test('imports point down: core only on protocol and config; the parts never on each other or cli', () => {
  const bad = forbiddenImports(edges);
  assert.equal(bad.length, 0, `imports against the folder rules (see each folder's README):\n${show(bad)}`);
});

test('no import cycles anywhere', () => {
  const cycles = importCycles(edges);
  assert.equal(cycles.length, 0, `import cycles:\n${cycles.map((c) => c.join(' → ')).join('\n')}`);
});

test('the rules catch a forbidden import and a cycle when one is added', () => {
  const planted: Edge[] = [
    { from: 'core/log.ts', to: 'gateway/index.ts', line: 1 },
    { from: 'analytics/service.ts', to: 'gateway/registry/index.ts', line: 1 },
    { from: 'firmware-sim/cli.ts', to: 'cli/context.ts', line: 1 },
    { from: 'gateway/writer/writer.ts', to: 'test/harness/gateway.ts', line: 1 },
    { from: 'gateway/test/x.test.ts', to: 'test/harness/gateway.ts', line: 1 },
  ];
  assert.deepEqual(forbiddenImports(planted).map((e) => e.from), ['core/log.ts', 'analytics/service.ts', 'firmware-sim/cli.ts', 'gateway/writer/writer.ts']);
  const loop: Edge[] = [
    { from: 'analytics/service.ts', to: 'analytics/api/app.ts', line: 1 },
    { from: 'analytics/api/app.ts', to: 'analytics/service.ts', line: 1 },
    { from: 'analytics/a.ts', to: 'analytics/b.ts', line: 1 },
  ];
  assert.deepEqual(importCycles(loop), [['analytics/api/app.ts', 'analytics/service.ts']]);
});
