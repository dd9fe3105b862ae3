import { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { readDeadLetters } from '../../gateway/deadletter/index.ts';
import { checkDeviceId } from '../../protocol/ids.ts';
import { usageError } from '../context.ts';

/** Writes to stdout and waits while its buffer is full, so a long listing does not pile up in memory. */
function write(text: string): Promise<void> {
  return process.stdout.write(text) ? Promise.resolve() : new Promise((resolve) => process.stdout.once('drain', resolve));
}

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
      // Printed as read, newest first: the day files are read from their end in chunks and never held whole.
      let shown = 0;
      for await (const e of readDeadLetters(config.deadletter.dir, { deviceId: opts.device, code: opts.code })) {
        if (opts.json) {
          await write(`${shown === 0 ? '[\n' : ',\n'}${JSON.stringify(e, null, 2).replace(/^/gm, '  ')}`);
        } else {
          await write(`${e.time}  ${e.deviceId ?? '-'}  ${e.code}  ${e.topic ?? e.source}\n    ${e.reason}\n`);
        }
        if (++shown >= limit) break;
      }
      if (opts.json) {
        await write(shown === 0 ? '[]\n' : '\n]\n');
      } else if (shown === 0) {
        await write(`no dead-lettered entries in ${config.deadletter.dir}\n`);
      } else {
        await write(`${shown} entr${shown === 1 ? 'y' : 'ies'} shown (newest first; --json for payloads)\n`);
      }
    });
  return cmd;
}
