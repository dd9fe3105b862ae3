import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARDS } from './src/index.ts';

/**
 * Writes the dashboards JSON that Grafana is provisioned from (grafana/dashboards/), from the
 * sources in grafana/src/. `--check` only compares and fails when a file is out of date.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('./dashboards/', import.meta.url));

export function render(board: Record<string, unknown>): string {
  return `${JSON.stringify(board, null, 2)}\n`;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  await mkdir(DASHBOARD_DIR, { recursive: true });
  const stale: string[] = [];
  for (const [name, board] of Object.entries(DASHBOARDS)) {
    const path = join(DASHBOARD_DIR, name);
    const text = render(board);
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current === text) continue;
    if (check) stale.push(name);
    else {
      await writeFile(path, text);
      process.stdout.write(`wrote grafana/dashboards/${name}\n`);
    }
  }
  if (stale.length > 0) {
    process.stderr.write(`out of date: ${stale.join(', ')}; run: node --import tsx grafana/build.ts\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`${Object.keys(DASHBOARDS).length} dashboards ${check ? 'up to date' : 'written'}\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
