import { Command } from 'commander';
import { pino } from 'pino';
import { buildOwnerReport, createAnalytics, formatOwnerReport } from '../../analytics/index.ts';
import { loadConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { checkOwner, quoted } from '../../protocol/ids.ts';
import { cliContext, usageError } from '../context.ts';
import { eraseOwnerEverywhere } from './erase.ts';

/** `usage-gateway owners …`: what is held about an owner, and their erasure. */
export function ownersCommand(): Command {
  const cmd = new Command('owners').description('owners (pseudonymous customer ids): what is held about one, and its erasure');
  cmd
    .command('report <owner>')
    .description("what is held about an owner: devices and their stored readings, every trigger with its evidence in words, what the policy held back and why, the consent history")
    .option('--json', 'print the report as JSON (schema: protocol/owner-report.ts)')
    .action(async (owner: string, opts: { json?: boolean }, c: Command) => {
      checkOwner(owner);
      const config = loadConfig({ file: c.optsWithGlobals().config });
      // Logs to stderr: stdout carries the report alone.
      const analytics = createAnalytics(config, { log: pino({ level: config.log.level }, pino.destination(2)) });
      try {
        await analytics.open();
        const report = await buildOwnerReport(owner, analytics);
        if (report.devices.length === 0 && report.triggers.length === 0 && report.held.length === 0 && report.consentHistory.length === 0) {
          throw new UsageGatewayError('GW_ERR_NOT_FOUND', `nothing is held about owner ${quoted(owner)}`);
        }
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatOwnerReport(report)}\n`);
      } finally {
        await analytics.stop();
      }
    });
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
      if (!opts.yes) throw usageError(`erasing owner ${quoted(owner)} deletes their devices and data for good; add --yes to confirm`);
      const { config, registry } = await cliContext(c.optsWithGlobals());
      const report = await eraseOwnerEverywhere(owner, {
        config, registry, gatewayUrl: opts.url ?? `http://127.0.0.1:${config.http.port}`, waitMs: wait * 1000,
        onProgress: (step) => process.stderr.write(`${step}\n`),
      });
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
  return cmd;
}
