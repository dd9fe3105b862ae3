import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { listDeadLetters } from '../../gateway/deadletter/index.ts';
import { checkDeviceId } from '../../protocol/ids.ts';
import { usageError } from '../context.ts';

export function deadletterCommand(): Command {
  const cmd = new Command('deadletter').description('the dead-letter store: refused readings and points, with their reasons');
  cmd
    .command('list')
    .description('list dead-lettered entries, newest first')
    .option('--device <id>', 'only entries of this device')
    .option('--code <code>', 'only entries with this error code (e.g. GW_ERR_INVALID_READING)')
    .option('--limit <n>', 'at most this many entries', '50')
    .option('--json', 'print a JSON array (with the payloads)')
    .action(async (opts: { device?: string; code?: string; limit: string; json?: boolean }, c: Command) => {
      if (opts.device !== undefined) checkDeviceId(opts.device);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw usageError(`--limit: expected a whole number from 1 to 100000, got "${opts.limit}"`);
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const entries = await listDeadLetters(config.deadletter.dir, { deviceId: opts.device, code: opts.code, limit });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      if (entries.length === 0) {
        process.stdout.write(`no dead-lettered entries in ${config.deadletter.dir}\n`);
        return;
      }
      for (const e of entries) {
        process.stdout.write(`${e.time}  ${e.deviceId ?? '-'}  ${e.code}  ${e.topic ?? e.source}\n    ${e.reason}\n`);
      }
      process.stdout.write(`${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} shown (newest first; --json for payloads)\n`);
    });
  return cmd;
}
