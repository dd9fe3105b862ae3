import { Command } from 'commander';
import { cliContext, type CliContext } from '../../context.ts';
import type { Figures } from '../../../firmware-sim/figures.ts';
import type { Fleet } from '../../../firmware-sim/fleet.ts';
import { LiveFleet } from '../../../firmware-sim/modes/live.ts';
import { chooseFleet, number } from '../../../firmware-sim/options.ts';
import { liveStart } from '../../../firmware-sim/options.ts';
import { fleetOptions, printSummary, run, type RunOpts } from './common.ts';
import { runUntilSignal } from '../../../core/cli-kit.ts';

export interface LiveFlags extends RunOpts {
  speed: string;
  since?: string;
  duration?: string;
  connectRate: string;
}

export const LIVE_DEFAULTS = { speed: '1', connectRate: '200' } as const;

/** Devices online until `--duration` is over or Ctrl-C; status lines on stderr every 10 s. */
export async function live(ctx: CliContext, fleet: Fleet, secrets: Map<string, string> | null, opts: LiveFlags): Promise<Figures> {
  const speed = number('--speed', opts.speed, { min: 0.01, max: 100_000 });
  const durationMs = opts.duration === undefined ? undefined : number('--duration', opts.duration, { min: 1 }) * 1000;
  const connectRate = number('--connect-rate', opts.connectRate, { min: 1 });
  const fromMs = liveStart(speed, opts.since, durationMs);
  const { value } = await runUntilSignal((signal) => run('live', opts, ctx, fleet, secrets, async (target) => {
    if (!opts.quiet) {
      const catchUp = fromMs < Date.now() - 1_000 ? `, replaying from ${new Date(fromMs).toISOString()} at ${speed}× until it reaches now` : '';
      process.stderr.write(`live: ${fleet.devices.length} devices${catchUp}; Ctrl-C to stop\n`);
    }
    const devices = new LiveFleet({
      fleet, catalogue: ctx.catalogue, target, speed, fromMs, durationMs, signal, connectRate,
      onStatus: opts.quiet ? undefined : (s) => process.stderr.write(`live: ${s.connected}/${fleet.devices.length} connected, sim time ${new Date(s.simTimeMs).toISOString().slice(0, 19)}Z, ${s.figures.sent} sent, ${s.figures.acked} acked, ${s.figures.refused} refused\n`),
    });
    devices.start();
    return (await devices.ended).figures;
  }, { from: new Date(fromMs).toISOString() }));
  return value;
}

export function liveCommand(): Command {
  return fleetOptions(
    new Command('live')
      .description('devices online, each its own MQTT client, publishing in real time or time-compressed')
      .option('--speed <f>', 'simulated seconds per second; above 1 the clock starts in the past and catches up with now', LIVE_DEFAULTS.speed)
      .option('--since <time>', 'where the simulated clock starts: a time, or now-1h, now-2d… (default: now, or with --speed far enough back to catch up with now by the end of --duration, 10 min without it)')
      .option('--duration <s>', 'seconds to run (default: until Ctrl-C)')
      .option('--connect-rate <n>', 'connections opened per second', LIVE_DEFAULTS.connectRate),
  ).action(async (opts: LiveFlags, c: Command) => {
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    printSummary(await live(ctx, fleet, secrets, opts), opts);
  });
}
