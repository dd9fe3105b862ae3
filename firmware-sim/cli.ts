import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { Command } from 'commander';
import { cliContext } from '../cli/context.ts';
import { UsageGatewayError } from '../protocol/errors.ts';
import { formatSummary, type Figures } from './figures.ts';
import { dayFloor, DEFAULT_FAULT_SHARE, parseMix } from './fleet.ts';
import { HISTORY_DAYS } from './generate.ts';
import { writeManifest } from './manifest.ts';
import { runLive } from './modes/live.ts';
import { provisionFleet } from './modes/provision.ts';
import { streamFleet } from './modes/stream.ts';
import { chooseFleet, manifestNextTo, number, seedOf, simDir, time, usage, type FleetChoice } from './options.ts';
import { Progress } from './progress.ts';
import { defaultUrl } from './publish.ts';
import { DAY_MS } from './personas.ts';
import { JsonlSink } from './sink.ts';

interface RunOpts extends FleetChoice {
  url?: string;
  out?: string;
  manifest?: string;
  quiet?: boolean;
  json?: boolean;
}

const fleetOptions = (cmd: Command) =>
  cmd
    .option('--fleet <file>', 'fleet file written by `sim provision` (default <dataDir>/sim/fleet.json)')
    .option('--url <url>', 'broker to publish to (default mqtt://127.0.0.1:<mqtt.port>)')
    .option('--out <file.jsonl>', 'write the readings (with device id and topic) to a file instead of publishing')
    .option('--manifest <file>', 'where to write the ground-truth manifest of the run')
    .option('--devices <n>', 'with --out: plan a fleet of n devices in memory instead of reading the fleet file')
    .option('--mix <mix>', 'with --devices: kinds, e.g. washer=50%,fridge=30%,car=20%')
    .option('--seed <n>', 'with --devices: seed of the planned fleet (default 1)')
    .option('--epoch <date>', "with --devices: the fleet's reference day (default today)")
    .option('--quiet', 'no progress output')
    .option('--json', 'print the summary as JSON');

/** `usage-gateway sim …`: simulated fleets with known personas (firmware-sim/README.md). */
export function simCommand(): Command {
  const sim = new Command('sim').description('simulated fleets of washers, fridges and cars with known personas');

  sim
    .command('provision')
    .description('register a simulated fleet in the registry and keep its credentials and ground truth')
    .requiredOption('--devices <n>', 'number of devices')
    .option('--mix <mix>', 'kinds, e.g. washer=50%,fridge=30%,car=20%', 'washer=50%,fridge=30%,car=20%')
    .option('--seed <n>', 'seed (default: random, printed)')
    .option('--prefix <prefix>', 'device id prefix: ids are <prefix>-<kind>-<n>', 'sim')
    .option('--fault-share <share>', 'share of devices with misbehaving firmware (0–1)', String(DEFAULT_FAULT_SHARE))
    .option('--epoch <date>', "the fleet's reference day: personas' patterns are placed before it (default today)")
    .option('--fleet <file>', 'fleet file to write (default <dataDir>/sim/fleet.json)')
    .action(async (opts: { devices: string; mix: string; seed?: string; prefix: string; faultShare: string; epoch?: string; fleet?: string }, c: Command) => {
      const ctx = await cliContext(c.optsWithGlobals());
      if (!/^[A-Za-z0-9._-]{1,40}$/.test(opts.prefix)) throw usage(`--prefix must be 1-40 letters, digits, ".", "_" or "-", got "${opts.prefix}"`);
      const fleetPath = opts.fleet ?? join(simDir(ctx.config), 'fleet.json');
      const seed = seedOf(opts.seed, () => randomInt(2 ** 31 - 1));
      const mix = parseMix(opts.mix);
      const fleet = await provisionFleet({
        registry: ctx.registry, catalogue: ctx.catalogue, mix, seed, prefix: opts.prefix, fleetPath,
        devices: number('--devices', opts.devices, { int: true, min: 1, max: 1_000_000 }),
        faultShare: number('--fault-share', opts.faultShare, { min: 0, max: 1 }),
        epochMs: dayFloor(time('--epoch', opts.epoch, Date.now())),
        manifestPath: fleetPath.replace(/(\.json)?$/, '.manifest.json'),
      });
      const byPersona = new Map<string, number>();
      for (const d of fleet.devices) byPersona.set(`${d.kind} ${d.persona}`, (byPersona.get(`${d.kind} ${d.persona}`) ?? 0) + 1);
      process.stdout.write(`provisioned ${fleet.devices.length} devices (seed ${seed}, epoch ${new Date(fleet.epochMs).toISOString().slice(0, 10)})\n`);
      process.stdout.write(`fleet file ${fleetPath} (mode 0600: it holds the device secrets)\n`);
      for (const [k, n] of [...byPersona].sort()) process.stdout.write(`  ${k.padEnd(36)} ${n}\n`);
      process.stdout.write(`  misbehaving firmware                 ${fleet.devices.filter((d) => d.fault).length}\n`);
    });

  fleetOptions(
    sim
      .command('backfill')
      .description('publish history with past timestamps through the gateway, as the devices would')
      .option('--days <n>', 'days of history', '90')
      .option('--until <time>', 'end of the history (default now)')
      .option('--concurrency <n>', 'devices connected at once', '100')
      .option('--inflight <n>', 'messages awaiting PUBACK per device', '8')
      .option('--batch <n>', 'readings per message (≤ 1000)', '500')
      .option('--connect-rate <n>', 'connections opened per second', '200'),
  ).action(async (opts: RunOpts & { days: string; until?: string; concurrency: string; inflight: string; batch: string; connectRate: string }, c: Command) => {
    const days = number('--days', opts.days, { int: true, min: 1, max: HISTORY_DAYS - 10 });
    const toMs = time('--until', opts.until, Date.now());
    const fromMs = toMs - days * DAY_MS;
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    if (days > ctx.config.influx.retentionDays) process.stderr.write(`warning: --days ${days} is beyond the raw retention (${ctx.config.influx.retentionDays} days); the gateway refuses the older readings\n`);
    const figures = await run('backfill', opts, ctx, fleet, secrets, (target, progress) => streamFleet({
      mode: 'backfill', fleet, catalogue: ctx.catalogue, fromMs, toMs, target, progress,
      concurrency: number('--concurrency', opts.concurrency, { int: true, min: 1, max: 20_000 }),
      inflight: number('--inflight', opts.inflight, { int: true, min: 1, max: 1_000 }),
      connectRate: number('--connect-rate', opts.connectRate, { min: 1 }),
      batch: { maxReadings: number('--batch', opts.batch, { int: true, min: 1, max: 1_000 }) },
    }), { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
    printSummary(figures, opts);
  });

  fleetOptions(
    sim
      .command('load')
      .description('offer readings at a rate (or as fast as the gateway takes them) and report throughput and latency')
      .option('--rate <n>', 'readings per second offered in all; 0: as fast as possible', '0')
      .option('--duration <s>', 'seconds to run', '30')
      .option('--days <n>', 'days of recent history each device draws its readings from', '7')
      .option('--connections <n>', 'devices connected at once', '100')
      .option('--inflight <n>', 'messages awaiting PUBACK per device', '4')
      .option('--batch <n>', 'readings per message (≤ 1000)', '100')
      .option('--connect-rate <n>', 'connections opened per second', '200'),
  ).action(async (opts: RunOpts & { rate: string; duration: string; days: string; connections: string; inflight: string; batch: string; connectRate: string }, c: Command) => {
    const toMs = Date.now();
    const fromMs = toMs - number('--days', opts.days, { int: true, min: 1, max: 365 }) * DAY_MS;
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    try {
      const figures = await run('load', opts, ctx, fleet, secrets, (target, progress) => streamFleet({
        mode: 'load', fleet, catalogue: ctx.catalogue, fromMs, toMs, target, progress, signal: abort.signal, latency: true,
        rate: number('--rate', opts.rate, { min: 0 }) || undefined,
        durationMs: number('--duration', opts.duration, { min: 1 }) * 1000,
        concurrency: number('--connections', opts.connections, { int: true, min: 1, max: 20_000 }),
        inflight: number('--inflight', opts.inflight, { int: true, min: 1, max: 1_000 }),
        connectRate: number('--connect-rate', opts.connectRate, { min: 1 }),
        batch: { maxReadings: number('--batch', opts.batch, { int: true, min: 1, max: 1_000 }) },
      }), { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() });
      printSummary(figures, opts);
    } finally {
      process.off('SIGINT', onSignal);
    }
  });

  fleetOptions(
    sim
      .command('live')
      .description('devices online, each its own MQTT client, publishing in real time or time-compressed')
      .option('--speed <f>', 'simulated seconds per second; above 1 the clock starts in the past and catches up with now', '1')
      .option('--duration <s>', 'seconds to run (default: until Ctrl-C)')
      .option('--connect-rate <n>', 'connections opened per second', '200'),
  ).action(async (opts: RunOpts & { speed: string; duration?: string; connectRate: string }, c: Command) => {
    const speed = number('--speed', opts.speed, { min: 0.01, max: 100_000 });
    const durationMs = opts.duration === undefined ? undefined : number('--duration', opts.duration, { min: 1 }) * 1000;
    const ctx = await cliContext(c.optsWithGlobals());
    const { fleet, secrets } = await chooseFleet(opts, ctx.config, ctx.catalogue);
    // A compressed run replays the recent past so that it reaches now when it ends (10 min by default).
    const fromMs = Date.now() - (speed - 1 > 0 ? (speed - 1) * (durationMs ?? 600_000) : 0);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const figures = await run('live', opts, ctx, fleet, secrets, async (target) => {
        const end = await runLive({
          fleet, catalogue: ctx.catalogue, target, speed, fromMs, durationMs, signal: abort.signal,
          connectRate: number('--connect-rate', opts.connectRate, { min: 1 }),
          onStatus: opts.quiet ? undefined : (s) => process.stderr.write(`live: ${s.connected}/${fleet.devices.length} connected, sim time ${new Date(s.simTimeMs).toISOString()}, ${s.figures.sent} sent, ${s.figures.acked} acked, ${s.figures.refused} refused\n`),
        });
        return end.figures;
      }, { from: new Date(fromMs).toISOString() });
      printSummary(figures, opts);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });

  return sim;
}

type Target = { url: string; secrets: Map<string, string> } | { sink: JsonlSink };

/** Common to every run: the target (broker or file), the manifest, progress and clean-up. */
async function run(
  mode: string, opts: RunOpts, ctx: Awaited<ReturnType<typeof cliContext>>, fleet: Parameters<typeof writeManifest>[1],
  secrets: Map<string, string> | null, body: (target: Target, progress: Progress) => Promise<Figures>, range: { from?: string; to?: string },
): Promise<Figures> {
  if (!opts.out && !secrets) throw usage('--devices plans a fleet without credentials: use it with --out, or run `sim provision` first');
  if (opts.out && opts.url) throw usage('--out and --url exclude each other: write to a file or publish');
  const manifestPath = opts.manifest ?? (opts.out ? manifestNextTo(opts.out) : join(simDir(ctx.config), `manifest.json`));
  await writeManifest(manifestPath, fleet, { mode, ...range, startedAt: new Date().toISOString() });
  const sink = opts.out ? new JsonlSink(opts.out) : null;
  const target: Target = sink ? { sink } : { url: opts.url ?? defaultUrl(ctx.config.mqtt.port), secrets: secrets! };
  try {
    return await body(target, new Progress(mode, 'devices', Boolean(opts.quiet)));
  } finally {
    await sink?.close();
  }
}

function printSummary(f: Figures, opts: RunOpts): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(f)}\n`);
  else process.stdout.write(formatSummary(f, !opts.out));
  if (f.failedDevices > 0 && f.acked === 0) throw new UsageGatewayError('GW_ERR_SIM_CONNECT', `no device could publish (${f.failedDevices} failed)`);
}

