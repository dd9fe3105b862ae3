import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';

/** Every relative import of one source file, resolved to a path from the project root. */
export interface Edge {
  from: string;
  to: string;
  line: number;
}

const SKIP = new Set(['node_modules', '.git', '.local', 'data', 'test-artifacts', 'dashboards']);
const SOURCE = /\.(ts|mts|mjs|js)$/;
// `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

export function sourceFiles(root: string, dir = root, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name) || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sourceFiles(root, p, out);
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

export function importsOf(root: string, files: string[]): Edge[] {
  const edges: Edge[] = [];
  for (const from of files) {
    const text = readFileSync(join(root, from), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const to = normalize(join(dirname(from), m[1])).split(sep).join('/');
      edges.push({ from, to, line: text.slice(0, m.index).split('\n').length });
    }
  }
  return edges;
}

/** The top-level folder of a path (a file at the root is its own). */
export function topOf(path: string): string {
  return path.includes('/') ? path.slice(0, path.indexOf('/')) : path;
}

/**
 * What each top-level folder may import besides itself. Imports point down: protocol ←
 * config ← core ← the parts ← cli; the parts never import each other. The test harness,
 * benchmarks and scripts sit on top and may use any part.
 */
export const ALLOWED: Record<string, readonly string[]> = {
  protocol: ['test'],
  config: ['protocol', 'test'],
  core: ['protocol', 'config', 'test'],
  gateway: ['protocol', 'config', 'core', 'test'],
  analytics: ['protocol', 'config', 'core', 'test'],
  'firmware-sim': ['protocol', 'config', 'core', 'test'],
  grafana: ['protocol', 'config', 'core', 'test'],
  cli: ['protocol', 'config', 'core', 'gateway', 'analytics', 'firmware-sim', 'grafana', 'test'],
  test: ['protocol', 'config', 'core', 'gateway', 'analytics', 'firmware-sim', 'grafana', 'cli', 'scripts'],
  bench: ['protocol', 'config', 'core', 'gateway', 'analytics', 'firmware-sim', 'grafana', 'cli', 'test', 'scripts'],
  scripts: ['protocol', 'config', 'core', 'test'],
  bin: ['cli'],
};

/** Imports that break the folder rules: a part reaching another part, or one pointing up. */
export function forbiddenImports(edges: readonly Edge[]): Edge[] {
  return edges.filter((e) => {
    const a = topOf(e.from);
    const b = topOf(e.to);
    if (a === b) return false;
    // The harness is for tests (and the benchmark and start scripts): the product's code never imports it.
    if (b === 'test' && a !== 'bench' && a !== 'scripts' && !/(^|\/)test\//.test(e.from)) return true;
    const allowed = ALLOWED[a];
    return allowed === undefined || !allowed.includes(b);
  });
}

/** Import cycles between files (strongly connected components of more than one file, or a self-import). */
export function importCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  // Tarjan's algorithm, iterative so that deep chains do not overflow the stack.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const start of next.keys()) {
    if (idx.has(start)) continue;
    const work: Array<{ node: string; i: number }> = [{ node: start, i: 0 }];
    idx.set(start, index); low.set(start, index); index++;
    stack.push(start); onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const outs = next.get(top.node) ?? [];
      if (top.i < outs.length) {
        const w = outs[top.i++];
        if (!idx.has(w)) {
          idx.set(w, index); low.set(w, index); index++;
          stack.push(w); onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, idx.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === idx.get(top.node)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== top.node);
        if (scc.length > 1 || outs.includes(top.node)) cycles.push(scc.sort());
      }
    }
  }
  return cycles;
}
