import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { createInfluxStore } from '../../core/influx/index.ts';
import { Registry } from '../../core/registry/index.ts';
import { parseTime } from '../../core/time.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { loadManifest } from '../../analytics/backtest/manifest.ts';
import { ListDirectory, registryDirectory } from '../../analytics/engine/directory.ts';
import { buildInsights, insightsHtml, insightsMarkdown } from '../../analytics/insights/index.ts';

/**
 * `usage-gateway insights`: the product-insight report per model and kind (how the range is
 * used, where it fails, who outgrows it, trends), from aggregates of the devices whose owners
 * consented to analytics. docs/insights.md says what each figure means.
 */
export function insightsCommand(): Command {
  return new Command('insights')
    .description('product-insight report per model: usage, error rates by usage band and firmware, owners outgrowing their model, trends (aggregates of consented devices only)')
    .option('--model <id>', 'only this model')
    .option('--kind <kind>', 'only this kind (washer, fridge, car)')
    .option('--from <time>', 'start of the period (ISO date or time, "-90d")', '-90d')
    .option('--to <time>', 'end of the period (ISO date or time, "now")', 'now')
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'html', 'json']).default('md'))
    .option('--out <file>', 'write the report to this file instead of standard output')
    .option('--manifest <file>', 'take the devices (with their consent) from a simulator manifest instead of the registry')
    .action(async (o: { model?: string; kind?: string; from: string; to: string; format: 'md' | 'html' | 'json'; out?: string; manifest?: string }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const nowMs = Date.now();
      const fromMs = parseTime(o.from, '--from', nowMs);
      const toMs = parseTime(o.to, '--to', nowMs);
      const catalogue = loadCatalogue(config.models.path);
      let directory;
      if (o.manifest) directory = new ListDirectory(loadManifest(o.manifest));
      else {
        const registry = new Registry(config.registry.path, catalogue);
        await registry.load();
        directory = registryDirectory(registry);
      }
      const store = createInfluxStore(config.influx);
      const report = await buildInsights({ store, catalogue, directory }, { fromMs, toMs, model: o.model, kind: o.kind, minDevices: config.insights.minDevices, pageSize: config.analytics.pageSize, nowMs });
      const text = o.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : o.format === 'html' ? insightsHtml(report) : insightsMarkdown(report);
      if (o.out) {
        await writeFile(o.out, text);
        process.stderr.write(`insights: ${o.format} report of ${report.models.length} models written to ${o.out}\n`);
      } else process.stdout.write(text);
    });
}
