import { Command } from 'commander';
import { cliContext, printRows } from '../context.ts';

export function modelsCommand(): Command {
  const cmd = new Command('models').description('the model catalogue');
  cmd
    .command('list')
    .description('list the catalogue models')
    .option('--kind <kind>', 'only models of this kind')
    .option('--json', 'print a JSON array')
    .action(async (opts: { kind?: string; json?: boolean }, c: Command) => {
      const { catalogue } = await cliContext(c.optsWithGlobals(), { readRegistry: false });
      const rows = catalogue.models.filter((m) => !opts.kind || m.kind === opts.kind).map((m) => ({ ...m }));
      printRows(rows, Boolean(opts.json), ['id', 'kind', 'name', 'segment', 'capacity_kg', 'volume_l', 'powertrain', 'successor']);
    });
  return cmd;
}
