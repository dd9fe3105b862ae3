import { Command } from 'commander';
import { configDocs, loadConfig } from '../../config/load.ts';

export function configCommand(): Command {
  return new Command('config')
    .description('print the effective configuration (after file and UG_* overrides), or the settings table')
    .option('--docs', 'print the table of every setting, its environment variable and default (Markdown)')
    .action((opts: { docs?: boolean }, c: Command) => {
      if (opts.docs) {
        process.stdout.write(`${configDocs()}\n`);
        return;
      }
      const cfg = loadConfig({ file: c.optsWithGlobals().config });
      const shown = { ...cfg, influx: { ...cfg.influx, password: cfg.influx.password ? '(set)' : undefined }, cluster: { ...cfg.cluster, redisUrl: cfg.cluster.redisUrl?.replace(/\/\/[^@/]*@/, '//(credentials hidden)@') } };
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    });
}
