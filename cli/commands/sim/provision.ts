import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Command } from 'commander';
import { cliContext, type CliContext } from '../../context.ts';
import { dayFloor, DEFAULT_FAULT_SHARE, parseMix, type Fleet } from '../../../firmware-sim/fleet.ts';
import { provisionFleet } from '../../../firmware-sim/modes/provision.ts';
import { DEFAULT_PROFILE, parseNoise, parseProfile } from '../../../firmware-sim/profile.ts';
import { number, seedOf, simDir, time, usage } from '../../../firmware-sim/options.ts';

export interface ProvisionFlags {
  devices: string;
  mix: string;
  seed?: string;
  prefix: string;
  faultShare: string;
  epoch?: string;
  fleet?: string;
  profile?: string;
  noise?: string;
}

export const DEFAULT_MIX_TEXT = 'washer=50%,fridge=30%,car=20%';

/** Registers a fleet from the command line's values and prints what it holds. */
export async function provisionFromFlags(ctx: CliContext, opts: ProvisionFlags): Promise<{ fleet: Fleet; fleetPath: string }> {
  if (!/^[A-Za-z0-9._-]{1,40}$/.test(opts.prefix)) throw usage(`--prefix must be 1-40 letters, digits, ".", "_" or "-", got "${opts.prefix}"`);
  const fleetPath = opts.fleet ?? join(simDir(ctx.config), 'fleet.json');
  const seed = seedOf(opts.seed, () => randomInt(2 ** 31 - 1));
  const fleet = await provisionFleet({
    registry: ctx.registry, catalogue: ctx.catalogue, mix: parseMix(opts.mix), seed, prefix: opts.prefix, fleetPath,
    devices: number('--devices', opts.devices, { int: true, min: 1, max: 1_000_000 }),
    faultShare: number('--fault-share', opts.faultShare, { min: 0, max: 1 }),
    epochMs: dayFloor(time('--epoch', opts.epoch, Date.now())),
    manifestPath: fleetPath.replace(/(\.json)?$/, '.manifest.json'),
    profile: parseProfile(opts.profile ?? DEFAULT_PROFILE), noise: opts.noise ? parseNoise(opts.noise) : undefined,
  });
  const byPersona = new Map<string, number>();
  for (const d of fleet.devices) byPersona.set(`${d.kind} ${d.persona}`, (byPersona.get(`${d.kind} ${d.persona}`) ?? 0) + 1);
  process.stdout.write(`provisioned ${fleet.devices.length} devices (seed ${seed}, epoch ${new Date(fleet.epochMs).toISOString().slice(0, 10)}, ${fleet.profile} profile)\n`);
  process.stdout.write(`fleet file ${fleetPath} (mode 0600: it holds the device secrets)\n`);
  for (const [k, n] of [...byPersona].sort()) process.stdout.write(`  ${k.padEnd(36)} ${n}\n`);
  process.stdout.write(`  misbehaving firmware                 ${fleet.devices.filter((d) => d.fault).length}\n`);
  if (fleet.profile === 'realistic') {
    const n = (f: (d: Fleet['devices'][number]) => boolean) => fleet.devices.filter(f).length;
    process.stdout.write(`  near-threshold ordinary devices      ${n((d) => Boolean(d.traits?.includes('near-threshold')))}\n`);
    process.stdout.write(`  a second, overlapping persona        ${n((d) => (d.episodes?.length ?? 0) > 1)}\n`);
    process.stdout.write(`  replaced by a bigger model           ${n((d) => Boolean(d.replacedBy))} (their replacements are in the fleet too)\n`);
    process.stdout.write(`  resold to another household          ${n((d) => Boolean(d.previousOwners?.length))}\n`);
  }
  return { fleet, fleetPath };
}

export function provisionCommand(): Command {
  return new Command('provision')
    .description('register a simulated fleet in the registry and keep its credentials and ground truth')
    .requiredOption('--devices <n>', 'number of devices')
    .option('--mix <mix>', 'kinds, e.g. washer=50%,fridge=30%,car=20%', DEFAULT_MIX_TEXT)
    .option('--seed <n>', 'seed (default: random, printed)')
    .option('--prefix <prefix>', 'device id prefix: ids are <prefix>-<kind>-<n>', 'sim')
    .option('--fault-share <share>', 'share of devices with misbehaving firmware (0–1)', String(DEFAULT_FAULT_SHARE))
    .option('--epoch <date>', "the fleet's reference day: personas' patterns are placed before it (default today)")
    .option('--fleet <file>', 'fleet file to write (default <dataDir>/sim/fleet.json)')
    .option('--profile <profile>', 'realistic (households away together, seasons, noisy sensors, near-threshold households; the default) or clean (every persona plain)', DEFAULT_PROFILE)
    .option('--noise <figures>', 'realistic profile: sensor noise, e.g. load=0.5,vibration=0.33,temp=0.3,soh=0.4,stuck=1,missing=3')
    .action(async (opts: ProvisionFlags, c: Command) => {
      await provisionFromFlags(await cliContext(c.optsWithGlobals()), opts);
    });
}
