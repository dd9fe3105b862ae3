import { join } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../../context.ts';
import { UsageGatewayError } from '../../../protocol/errors.ts';
import { formatSummary, type Figures } from '../../../firmware-sim/figures.ts';
import type { Fleet } from '../../../firmware-sim/fleet.ts';
import { writeManifest } from '../../../firmware-sim/manifest.ts';
import { manifestNextTo, simDir, time, usage, type FleetChoice } from '../../../firmware-sim/options.ts';
import { Progress } from '../../../firmware-sim/progress.ts';
import { defaultUrl } from '../../../firmware-sim/publish.ts';
import { JsonlSink } from '../../../firmware-sim/sink.ts';

export interface RunOpts extends FleetChoice {
  url?: string;
  out?: string;
  manifest?: string;
  quiet?: boolean;
  json?: boolean;
}

/** Options every generating mode shares: which fleet, where readings go, how the run reports. */
export function fleetOptions(cmd: Command): Command {
  return cmd
    .option('--fleet <file>', 'fleet file written by `sim provision` (default <dataDir>/sim/fleet.json)')
    .option('--url <url>', 'broker to publish to (default mqtt://127.0.0.1:<mqtt.port>)')
    .option('--out <file.jsonl>', 'write the readings (with device id and topic) to a file instead of publishing')
    .option('--manifest <file>', 'where to write the ground-truth manifest of the run (default <dataDir>/sim/manifest.json, or next to --out)')
    .option('--devices <n>', 'with --out: plan a fleet of n devices in memory instead of reading the fleet file')
    .option('--mix <mix>', 'with --devices: kinds, e.g. washer=50%,fridge=30%,car=20%')
    .option('--seed <n>', 'with --devices: seed of the planned fleet (default 1)')
    .option('--epoch <date>', "with --devices: the fleet's reference day (default today)")
    .option('--profile <profile>', 'with --devices: realistic (households, seasons, noisy sensors; the default) or clean')
    .option('--noise <figures>', 'with --devices, realistic: sensor noise, e.g. load=0.5,vibration=0.33,temp=0.3,soh=0.4,stuck=1,missing=3')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the summary as JSON');
}

export type Target = { url: string; secrets: Map<string, string> } | { sink: JsonlSink };

/** Common to every run: the target (broker or file), the manifest, progress and clean-up. */
export async function run(
  mode: string, opts: RunOpts, ctx: CliContext, fleet: Fleet, secrets: Map<string, string> | null,
  body: (target: Target, progress: Progress) => Promise<Figures>, range: { from?: string; to?: string },
  progressUnit = 'devices',
): Promise<Figures> {
  if (!opts.out && !secrets) throw usage('--devices plans a fleet without credentials: use it with --out, or run `sim provision` first');
  if (opts.out && opts.url) throw usage('--out and --url exclude each other: write to a file or publish');
  const manifestPath = opts.manifest ?? (opts.out ? manifestNextTo(opts.out) : join(simDir(ctx.config), 'manifest.json'));
  await writeManifest(manifestPath, fleet, { mode, ...range, startedAt: new Date().toISOString() }, ctx.catalogue);
  const sink = opts.out ? new JsonlSink(opts.out) : null;
  const target: Target = sink ? { sink } : { url: opts.url ?? defaultUrl(ctx.config.mqtt.port), secrets: secrets! };
  try {
    return await body(target, new Progress(mode, progressUnit, Boolean(opts.quiet)));
  } finally {
    await sink?.close();
  }
}

/** The summary on stdout (text or JSON); a run in which no device could publish is an error. */
export function printSummary(f: Figures, opts: { out?: string; json?: boolean }): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(f)}\n`);
  else process.stdout.write(formatSummary(f, !opts.out));
  if (f.failedDevices > 0 && f.acked === 0) throw new UsageGatewayError('GW_ERR_SIM_CONNECT', `no device could publish (${f.failedDevices} failed${f.failures ? `: ${f.failures[0]}` : ''})`);
}

