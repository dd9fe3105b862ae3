import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { cliContext } from '../../context.ts';
import { UsageGatewayError } from '../../../protocol/errors.ts';
import { DEFAULT_FAULT_SHARE } from '../../../firmware-sim/fleet.ts';
import { readFleetFile } from '../../../firmware-sim/manifest.ts';
import { simDir } from '../../../firmware-sim/options.ts';
import { backfill, BACKFILL_DEFAULTS } from './backfill.ts';
import { printSummary } from './common.ts';
import { live, LIVE_DEFAULTS } from './live.ts';
import { DEFAULT_MIX_TEXT, provisionFromFlags } from './provision.ts';

interface DemoFlags {
  url?: string;
  devices: string;
  mix: string;
  seed: string;
  prefix: string;
  days: string;
  speed: string;
  catchUp: string;
  quiet?: boolean;
}

/**
 * A demonstration fleet in one command, for a container that runs one: provision once (a
 * restart reuses the fleet file), backfill the history up to a while ago, then go live,
 * replaying that while at --speed until the clock reaches now.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('provision a small fleet (once), backfill its history, then run it live: `sim provision`, `sim backfill` and `sim live` in one')
    .option('--url <url>', 'broker to publish to (default mqtt://127.0.0.1:<mqtt.port>)')
    .option('--devices <n>', 'devices in the fleet, when it is provisioned', '50')
    .option('--mix <mix>', 'kinds, when it is provisioned', DEFAULT_MIX_TEXT)
    .option('--seed <n>', 'seed, when it is provisioned', '1')
    .option('--prefix <prefix>', 'device id prefix, when it is provisioned', 'demo')
    .option('--days <n>', 'days of history to backfill (a realistic fleet\'s patterns spread over the year; the longest rule looks back 16 weeks)', '120')
    .option('--catch-up <time>', 'where the history ends and the live clock starts', 'now-1h')
    .option('--speed <f>', 'live clock speed until it reaches now (then real time)', '60')
    .option('--quiet', 'no progress output')
    .action(async (o: DemoFlags, c: Command) => {
      const ctx = await cliContext(c.optsWithGlobals());
      const fleetPath = join(simDir(ctx.config), 'fleet.json');
      if (await access(fleetPath).then(() => false, () => true)) {
        await provisionFromFlags(ctx, { devices: o.devices, mix: o.mix, seed: o.seed, prefix: o.prefix, faultShare: String(DEFAULT_FAULT_SHARE) });
      } else {
        process.stdout.write(`using the simulated fleet in ${fleetPath}\n`);
      }
      const { fleet, secrets } = await readFleetFile(fleetPath);
      const missing = fleet.devices.filter((d) => !ctx.registry.get(d.id));
      if (missing.length > 0) {
        throw new UsageGatewayError('GW_ERR_SIM_FLEET', `${missing.length} devices of the fleet in ${fleetPath} are not in the registry ${ctx.config.registry.path} (first: ${missing[0].id}); remove the fleet file to provision a new fleet`);
      }
      const common = { url: o.url, quiet: o.quiet };
      const history = await backfill(ctx, fleet, secrets, { ...common, ...BACKFILL_DEFAULTS, days: o.days, until: o.catchUp });
      printSummary(history.figures, {});
      if (history.interrupted) return;
      printSummary(await live(ctx, fleet, secrets, { ...common, ...LIVE_DEFAULTS, speed: o.speed, since: o.catchUp }), {});
    });
}
