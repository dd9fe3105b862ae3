import { Command } from 'commander';
import { configDocs, loadConfig, maskSecrets } from '../../config/load.ts';

export function configCommand(): Command {
  return new Command('config')
    .description('print the effective configuration (after file and UG_* overrides; secrets hidden), or the settings table')
    .option('--docs', 'print the table of every setting, its environment variable and default (Markdown)')
    .action((opts: { docs?: boolean }, c: Command) => {
      if (opts.docs) {
        process.stdout.write(`${configDocs()}\n`);
        return;
      }
      const cfg = loadConfig({ file: c.optsWithGlobals().config });
      process.stdout.write(`${JSON.stringify(maskSecrets(cfg), null, 2)}\n`);
    });
}
