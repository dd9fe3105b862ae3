import { Command } from 'commander';
import { cliContext, usageError } from '../context.ts';
import { eraseOwnerEverywhere } from './erase.ts';

const OWNER_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function checkOwner(owner: string): void {
  if (!OWNER_RE.test(owner)) throw usageError(`"${owner}" is not an owner id: 1-128 letters, digits, ".", "_", ":" or "-"`);
}

/** `usage-gateway owners …`: what is held about an owner, and their erasure. */
export function ownersCommand(): Command {
  const cmd = new Command('owners').description('owners (pseudonymous customer ids): erase everything held about one');
  cmd
    .command('erase <owner>')
    .description("erase an owner (data-protection request): every device registered to them, as `devices erase`, then their triggers and consent changes on devices sold on")
    .option('--yes', 'confirm: the erasure cannot be undone')
    .option('--url <url>', 'the running gateway, whose spool is let drain first (default: http://127.0.0.1:<http.port>)')
    .option('--wait <seconds>', 'longest wait for that spool', '60')
    .action(async (owner: string, opts: { yes?: boolean; url?: string; wait: string }, c: Command) => {
      checkOwner(owner);
      const wait = Number(opts.wait);
      if (!Number.isFinite(wait) || wait < 0) throw usageError(`--wait: expected seconds (a number from 0), got "${opts.wait}"`);
      if (!opts.yes) throw usageError(`erasing owner ${owner} deletes their devices and data for good; add --yes to confirm`);
      const { config, registry } = await cliContext(c.optsWithGlobals());
      const report = await eraseOwnerEverywhere(owner, {
        config, registry, gatewayUrl: opts.url ?? `http://127.0.0.1:${config.http.port}`, waitMs: wait * 1000,
        onProgress: (step) => process.stderr.write(`${step}\n`),
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
  return cmd;
}
