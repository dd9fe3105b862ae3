import { Command } from 'commander';
import { cliContext } from '../../context.ts';
import { streamFleet } from '../../../firmware-sim/modes/stream.ts';
import { chooseFleet, number } from '../../../firmware-sim/options.ts';
import { DAY_MS } from '../../../firmware-sim/personas.ts';
import { fleetOptions, printSummary, run, type RunOpts } from './common.ts';
import { runUntilSignal } from '../../../core/cli-kit.ts';

interface LoadFlags extends RunOpts {
  rate: string;
  duration: string;
  days: string;
  connections: string;
  inflight: string;
  batch: string;
  connectRate: string;
}

export function loadCommand(): Command {
  return fleetOptions(
    new Command('load')
      .description('offer readings at a rate (or as fast as the gateway takes them) and report throughput and PUBACK latency')
      .option('--rate <n>', 'readings per second offered in all; 0: as fast as possible', '0')
      .option('--duration <s>', 'seconds to run', '30')
      .option('--days <n>', 'days of history each device draws a round of readings from (then the days before, and so on)', '7')
      .option('--connections <n>', 'devices connected at once', '100')
      .option('--inflight <n>', 'messages awaiting PUBACK per device', '4')
      .option('--batch <n>', 'readings per message (≤ 1000)', '100')
      .option('--connect-rate <n>', 'connections opened per second', '200'),
  ).action(async (opts: LoadFlags, c: Command) => {
    const toMs = Date.now();
    const fromMs = toMs - number('--days', opts.days, { min: 0.01, max: 365 }) * DAY_MS;
    const rate = number('--rate', opts.rate, { min: 0 });
    const durationMs = number('--duration', opts.duration, { min: 1 }) * 1000;
    const concurrency = number('--connections', opts.connections, { int: true, min: 1, max: 20_000 });
    const inflight = number('--inflight', opts.inflight, { int: true, min: 1, max: 1_000 });
    const connectRate = number('--connect-rate', opts.connectRate, { min: 1 });
    const maxReadings = number('--batch', opts.batch, { int: true, min: 1, max: 1_000 });
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    // Rounds reach back no further than the gateway keeps raw readings, or they would be refused.
    const oldestMs = toMs - (ctx.config.influx.retentionDays - 1) * DAY_MS;
    const { value: figures } = await runUntilSignal((signal) => run('load', opts, ctx, fleet, secrets, (target, progress) => streamFleet({
      mode: 'load', fleet, catalogue: ctx.catalogue, fromMs, toMs, target, progress, signal, latency: true, repeat: true, oldestMs,
      rate: rate || undefined, durationMs, concurrency, inflight, connectRate, batch: { maxReadings },
    }), { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() }, 's'));
    printSummary(figures, opts);
  });
}
