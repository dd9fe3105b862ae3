import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Progress on stderr, with the seconds since the benchmark began. */
export function progress(name: string): (m: string) => void {
  const t0 = performance.now();
  return (m) => process.stderr.write(`[${name} ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);
}

/** A plain text table: the first row is the header. */
export function table(rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export interface Target {
  what: string;
  target: string;
  measured: string;
  /** null: not measured in this run. */
  met: boolean | null;
}

export function targetsTable(targets: Target[]): string {
  return table([['target', 'wanted', 'measured', ''], ...targets.map((t) => [t.what, t.target, t.measured, t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED'])]);
}

export function machine(): Record<string, unknown> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    model = /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8' }))?.[1]?.trim() ?? model;
  } catch { /* no lscpu */ }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch { /* no nproc */ }
  let load: number[] = [];
  try {
    load = (execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3)).map(Number);
  } catch { /* not Linux */ }
  return { cpu: model, nproc, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAvgAtStart: load };
}

/** Writes the results as JSON to bench/results/<name>-<time>.json; returns the path. */
export async function saveResults(name: string, results: unknown): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

export const fmt = {
  int: (n: number | undefined | null) => (n === undefined || n === null || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US')),
  f1: (n: number | undefined | null) => (n === undefined || n === null || !Number.isFinite(n) ? '-' : n.toFixed(1)),
  mib: (bytes: number | undefined | null) => (bytes === undefined || bytes === null ? '-' : `${Math.round(bytes / 2 ** 20)} MiB`),
  ratio: (n: number | undefined | null) => (n === undefined || n === null || !Number.isFinite(n) ? '-' : `${n.toFixed(2)}×`),
};
