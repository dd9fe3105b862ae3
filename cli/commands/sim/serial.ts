import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { cliContext, type CliContext } from '../../context.ts';
import { runSimSerial } from '../../../firmware-sim/index.ts';
import { SimClock } from '../../../firmware-sim/clock.ts';
import { dayFloor, type Fleet } from '../../../firmware-sim/fleet.ts';
import { readFleetFile, writeManifest } from '../../../firmware-sim/manifest.ts';
import { benchFleet, dueReadings } from '../../../firmware-sim/modes/serial.ts';
import { number, seedOf, simDir, time, usage } from '../../../firmware-sim/options.ts';
import { JsonlSink } from '../../../firmware-sim/sink.ts';
import { liveStart } from '../../../firmware-sim/options.ts';
import { runUntilSignal } from '../../../core/cli-kit.ts';

interface SerialFlags {
  port?: string;
  out?: string;
  device: string;
  fleet?: string;
  kind?: string;
  model?: string;
  persona?: string;
  firmware?: string;
  seed?: string;
  epoch?: string;
  speed: string;
  since?: string;
  duration?: string;
  count?: string;
  format: 'json' | 'kv';
  baud: string;
  rate: string;
  manifest?: string;
  quiet?: boolean;
}

/**
 * The bench device to simulate: the device of that id in the fleet file (the same readings as
 * the fleet's other modes give it), or one planned from --kind/--model/--persona, the kind and
 * model defaulting to the device's registry entry.
 */
async function benchDevice(ctx: CliContext, o: SerialFlags): Promise<Fleet> {
  const path = o.fleet ?? join(simDir(ctx.config), 'fleet.json');
  const planning = o.kind !== undefined || o.model !== undefined || o.persona !== undefined || o.firmware !== undefined;
  if (!planning && (o.fleet !== undefined || (await access(path).then(() => true, () => false)))) {
    const { fleet } = await readFleetFile(path);
    const device = fleet.devices.find((d) => d.id === o.device);
    if (device) return { ...fleet, devices: [device] };
    if (o.fleet !== undefined) throw usage(`device ${o.device} is not in the fleet file ${path}`);
  }
  const entry = ctx.registry.get(o.device);
  const registered = entry?.role === 'device' ? entry : undefined;
  const kind = o.kind ?? registered?.kind;
  if (!kind) throw usage(`device ${o.device} is neither in the simulated fleet nor in the registry: give its --kind (washer, fridge or car)`);
  return benchFleet({
    id: o.device, kind, model: o.model ?? (registered && registered.kind === kind ? registered.model : undefined), persona: o.persona, firmware: o.firmware,
    seed: seedOf(o.seed, () => 1), epochMs: dayFloor(time('--epoch', o.epoch, Date.now())), catalogue: ctx.catalogue,
  });
}

export function serialCommand(): Command {
  return new Command('serial')
    .description('one bench device printing its readings as lines on a serial port, for the serial bridge (`usage-gateway serial`)')
    .option('--port <path>', 'serial port to write to (e.g. one end of a socat pty pair)')
    .option('--out <file.jsonl>', 'write the readings (with device id and topic) to a file instead of a port')
    .requiredOption('--device <id>', 'the bench device')
    .option('--fleet <file>', 'take the device from this fleet file (default <dataDir>/sim/fleet.json, when it holds the device)')
    .option('--kind <kind>', 'washer, fridge or car (default: the device\'s kind in the registry)')
    .option('--model <id>', 'catalogue model (default: the registry\'s, else the first of its kind)')
    .option('--persona <persona>', 'the pattern it shows, e.g. washer-overloader (default normal)')
    .option('--firmware <fault>', 'misbehaving firmware: out-of-range, unknown-field, clock-skew, duplicates, resends (default ok)')
    .option('--seed <n>', 'seed of the readings (default 1)')
    .option('--epoch <date>', 'reference day of the persona\'s pattern (default today)')
    .option('--speed <f>', 'simulated seconds per second; above 1 the clock starts in the past and catches up with now', '1')
    .option('--since <time>', 'where the simulated clock starts: a time, or now-6h… (default as for `sim live`)')
    .option('--duration <s>', 'seconds to run (default: until Ctrl-C or --count)')
    .option('--count <n>', 'stop after this many lines')
    .addOption(new Option('--format <format>', 'line format: JSON or key=value').choices(['json', 'kv']).default('json'))
    .option('--baud <rate>', 'line speed', '115200')
    .option('--rate <n>', 'most lines per second, as a UART would print them', '50')
    .option('--manifest <file>', 'where to write the ground truth of the device (default <dataDir>/sim/serial-<device>.manifest.json)')
    .option('--quiet', 'no progress output')
    .action(async (o: SerialFlags, c: Command) => {
      if ((o.port === undefined) === (o.out === undefined)) throw usage('give exactly one of --port (a serial port) and --out (a file)');
      const speed = number('--speed', o.speed, { min: 0.01, max: 100_000 });
      const durationMs = o.duration === undefined ? undefined : number('--duration', o.duration, { min: 1 }) * 1000;
      const count = o.count === undefined ? undefined : number('--count', o.count, { int: true, min: 1 });
      const rate = number('--rate', o.rate.replace(/\/s$/, ''), { min: 0.01, max: 100_000 });
      const baudRate = number('--baud', o.baud, { int: true, min: 50 });
      const ctx = await cliContext(c.optsWithGlobals());
      const fleet = await benchDevice(ctx, o);
      const device = fleet.devices[0];
      const clock = new SimClock(liveStart(speed, o.since, durationMs), speed);
      await writeManifest(o.manifest ?? join(simDir(ctx.config), `serial-${device.id}.manifest.json`), fleet, { mode: 'serial', from: new Date(clock.fromMs).toISOString(), startedAt: new Date().toISOString() }, ctx.catalogue);
      const where = o.port ?? o.out!;
      if (!o.quiet) process.stderr.write(`sim serial: ${device.id} (${device.kind} ${device.model}, ${device.persona}${device.fault ? `, firmware ${device.fault}` : ''}) → ${where}, ${o.format} lines, clock from ${new Date(clock.fromMs).toISOString().slice(0, 19)}Z at ${speed}×; Ctrl-C to stop\n`);
      let lastShown = Date.now();
      let lastTime = clock.fromMs;
      const byType: Record<string, number> = {};
      const { value: lines } = await runUntilSignal(async (signal) => {
        const stop = durationMs === undefined ? signal : AbortSignal.any([signal, AbortSignal.timeout(durationMs)]);
        const show = (n: number) => {
          if (o.quiet || Date.now() - lastShown < 5_000) return;
          lastShown = Date.now();
          process.stderr.write(`sim serial: ${n}${count ? `/${count}` : ''} lines, sim time ${new Date(lastTime).toISOString().slice(0, 19)}Z\n`);
        };
        async function* source() {
          for await (const r of dueReadings(fleet, device, ctx.catalogue, clock, stop)) {
            lastTime = r.timeMs;
            byType[r.reading.type as string] = (byType[r.reading.type as string] ?? 0) + 1;
            yield r;
          }
        }
        if (o.out) {
          const sink = new JsonlSink(o.out);
          let n = 0;
          try {
            for await (const r of source()) {
              await sink.write([r]);
              show(++n);
              if (n === count) break;
            }
          } finally {
            await sink.close();
          }
          return n;
        }
        const readings = (async function* () {
          for await (const r of source()) yield r.reading;
        })();
        const result = await runSimSerial({
          path: o.port!, baudRate, kind: device.kind, seed: fleet.seed, rate, count, format: o.format, signal: stop, readings,
          onLine: (_line, n) => show(n),
        });
        return result.lines;
      });
      const types = Object.entries(byType).map(([t, n]) => `${n} ${t}`).join(', ');
      process.stdout.write(`wrote ${lines} lines (${types || 'none'}) as ${device.id} to ${where}, sim time ${new Date(clock.fromMs).toISOString().slice(0, 19)}Z → ${new Date(lastTime).toISOString().slice(0, 19)}Z\n`);
    });
}
