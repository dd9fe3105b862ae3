import { Command } from 'commander';
import { cliContext, type CliContext } from '../../context.ts';
import type { Figures } from '../../../firmware-sim/figures.ts';
import type { Fleet } from '../../../firmware-sim/fleet.ts';
import { HISTORY_DAYS } from '../../../firmware-sim/generate.ts';
import { streamFleet } from '../../../firmware-sim/modes/stream.ts';
import { chooseFleet, number, time } from '../../../firmware-sim/options.ts';
import { DAY_MS } from '../../../firmware-sim/personas.ts';
import { fleetOptions, printSummary, run, type RunOpts } from './common.ts';
import { runUntilSignal } from '../../../core/cli-kit.ts';

export interface BackfillFlags extends RunOpts {
  days: string;
  until?: string;
  concurrency: string;
  inflight: string;
  batch: string;
  connectRate: string;
}

export const BACKFILL_DEFAULTS = { days: '90', concurrency: '100', inflight: '8', batch: '500', connectRate: '200' } as const;

/** Publishes `--days` of history up to `--until`; resolves with the figures and whether Ctrl-C cut it short. */
export async function backfill(ctx: CliContext, fleet: Fleet, secrets: Map<string, string> | null, opts: BackfillFlags): Promise<{ figures: Figures; interrupted: boolean }> {
  const days = number('--days', opts.days, { min: 0.001, max: HISTORY_DAYS - 10 });
  const toMs = time('--until', opts.until, Date.now());
  const fromMs = toMs - Math.round(days * DAY_MS);
  if (days > ctx.config.influx.retentionDays) process.stderr.write(`warning: --days ${days} is beyond the raw retention (${ctx.config.influx.retentionDays} days); the gateway refuses the older readings\n`);
  const concurrency = number('--concurrency', opts.concurrency, { int: true, min: 1, max: 20_000 });
  const inflight = number('--inflight', opts.inflight, { int: true, min: 1, max: 1_000 });
  const connectRate = number('--connect-rate', opts.connectRate, { min: 1 });
  const maxReadings = number('--batch', opts.batch, { int: true, min: 1, max: 1_000 });
  const { value, interrupted } = await runUntilSignal((signal) => run('backfill', opts, ctx, fleet, secrets, (target, progress) => streamFleet({
    mode: 'backfill', fleet, catalogue: ctx.catalogue, fromMs, toMs, target, progress, signal, concurrency, inflight, connectRate,
    batch: { maxReadings },
  }), { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() }));
  return { figures: value, interrupted };
}

export function backfillCommand(): Command {
  return fleetOptions(
    new Command('backfill')
      .description('publish history with past timestamps through the gateway, as the devices would')
      .option('--days <n>', 'days of history', BACKFILL_DEFAULTS.days)
      .option('--until <time>', 'end of the history: a time, or now-6h, now-1d… (default now)')
      .option('--concurrency <n>', 'devices connected at once', BACKFILL_DEFAULTS.concurrency)
      .option('--inflight <n>', 'messages awaiting PUBACK per device', BACKFILL_DEFAULTS.inflight)
      .option('--batch <n>', 'readings per message (≤ 1000)', BACKFILL_DEFAULTS.batch)
      .option('--connect-rate <n>', 'connections opened per second', BACKFILL_DEFAULTS.connectRate),
  ).action(async (opts: BackfillFlags, c: Command) => {
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    const { figures, interrupted } = await backfill(ctx, fleet, secrets, opts);
    printSummary(figures, opts);
    if (figures.failedDevices > 0) {
      process.stderr.write(`backfill incomplete: ${figures.failedDevices} device(s) failed (${figures.failures?.[0] ?? 'see above'})\n`);
      process.exitCode = 1;
    }
    if (interrupted) {
      // The history is incomplete: a script that runs this must not carry on as if it were not.
      process.stderr.write('backfill interrupted: the history is incomplete (run it again: readings already stored are overwritten, not doubled)\n');
      process.exitCode = 130;
    }
  });
}
