import { loadConfig, type ResolvedConfig } from '../config/load.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { loadCatalogue, type Catalogue } from '../protocol/models.ts';
import { Registry } from '../core/registry/index.ts';

/** What most commands need: the config (from --config and UG_*), the catalogue and registry. */
export interface CliContext {
  config: Readonly<ResolvedConfig>;
  catalogue: Catalogue;
  registry: Registry;
}

/**
 * `readRegistry: false` for commands that only change the registry: a change reads the file
 * itself under the registry's lock, and can repair an entry that a full read would refuse.
 */
export async function cliContext(opts: { config?: string }, { readRegistry = true } = {}): Promise<CliContext> {
  const config = loadConfig({ file: opts.config });
  const catalogue = loadCatalogue(config.models.path);
  const registry = new Registry(config.registry.path, catalogue);
  if (readRegistry) await registry.load();
  return { config, catalogue, registry };
}

/** Prints rows as JSON (one array) or as an aligned text table. */
export function printRows(rows: Record<string, unknown>[], json: boolean, columns: string[]): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cell = (v: unknown) => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write(`${[line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n')}\n`);
}

export function usageError(message: string): UsageGatewayError {
  return new UsageGatewayError('GW_ERR_USAGE', message);
}
