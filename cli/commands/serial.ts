import { Command, Option } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { runUntilSignal, untilAborted } from '../../core/cli-kit.ts';
import { fnv1a } from '../../core/hash.ts';
import { createLogger } from '../../core/log.ts';
import { listPorts } from '../../gateway/serial/list.ts';
import { BridgeSet, portSpec, summary } from '../../gateway/serial/run.ts';
import { runSimSerial } from '../../firmware-sim/serial-lines.ts';

interface BridgeFlags {
  port?: string;
  baud?: string;
  device?: string;
  secret?: string;
  secretFile?: string;
  format?: string;
  kind?: string;
  fieldMap?: string;
  writeBack?: boolean;
  mqttUrl?: string;
  maxLineBytes?: string;
}

function usage(message: string): UsageGatewayError {
  return new UsageGatewayError('GW_ERR_USAGE', message);
}

function wholeNumber(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw usage(`${flag}: expected a whole number above 0, got "${raw}"`);
  return n;
}

/** `--field-map t=temp_c,l=load_kg` → {t: 'temp_c', l: 'load_kg'} */
export function parseFieldMapFlag(raw: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)=([^=\s]+)$/.exec(part);
    if (!m) throw usage(`--field-map: expected from=to pairs separated by commas (e.g. t=temp_c,l=load_kg), got "${part}"`);
    map[m[1]] = m[2];
  }
  return map;
}

/** The one port given on the command line, as a `serial.ports` entry (validated by the config schema). */
function portFromFlags(f: BridgeFlags): Record<string, unknown> {
  if (!f.device) throw usage('--device <id> is required with --port (the registered device the readings are published as)');
  if (!f.secret && !f.secretFile) throw usage('--secret <secret> or --secret-file <file> is required with --port (the device secret)');
  return {
    path: f.port, deviceId: f.device, secret: f.secret, secretFile: f.secretFile,
    ...(f.baud ? { baudRate: wholeNumber('--baud', f.baud) } : {}),
    ...(f.format ? { format: f.format } : {}),
    ...(f.kind ? { kind: f.kind } : {}),
    ...(f.fieldMap ? { fieldMap: parseFieldMapFlag(f.fieldMap) } : {}),
    ...(f.writeBack ? { writeBack: true } : {}),
    ...(f.maxLineBytes ? { limits: { maxLineBytes: wholeNumber('--max-line-bytes', f.maxLineBytes) } } : {}),
  };
}

async function runBridge(f: BridgeFlags, configFile: string | undefined): Promise<void> {
  const overrides: Record<string, unknown> = {};
  if (f.port) overrides.serial = { ports: [portFromFlags(f)] };
  else if (f.device || f.secret || f.secretFile) throw usage('--device and --secret go with --port; without --port the ports of the config (serial.ports) are run');
  const config = loadConfig({ file: configFile, overrides });
  if (config.serial.ports.length === 0) {
    throw usage('no port to bridge: give --port <path> --device <id> --secret <secret>, or list ports under serial.ports in the config');
  }
  const log = createLogger(config.log.level).child({ module: 'serial' });
  const mqttUrl = f.mqttUrl ?? config.serial.mqttUrl ?? `mqtt://127.0.0.1:${config.mqtt.port || 1883}`;
  const set = new BridgeSet(config.serial.ports.map(portSpec), {
    deadletterDir: config.deadletter.dir, deadletterMaxBytes: config.deadletter.maxBytes, log, mqttUrl,
  });
  await set.start();
  log.info({ ports: config.serial.ports.map((p) => p.path), mqttUrl }, 'serial bridge running');
  let last = '';
  const progress = setInterval(() => {
    const now = JSON.stringify(set.stats());
    if (now !== last) log.info({ stats: set.stats() }, 'serial bridge progress');
    last = now;
  }, 60_000);
  await runUntilSignal(async (signal) => {
    await untilAborted(signal);
    clearInterval(progress);
    try {
      await set.stop();
      process.stderr.write(`${summary(set.stats())}\n`);
    } catch (err) {
      log.error({ err }, 'error while stopping the serial bridge');
      process.exitCode = 1;
    }
  });
}

/** `usage-gateway serial`: bridge ports; `serial list`; `serial simulate`. */
export function serialCommand(): Command {
  // The bridge is the default subcommand, so `serial --port …` runs it while `serial simulate
  // --port …` keeps its own --port (options of a parent would swallow the subcommand's).
  const cmd = new Command('serial')
    .description('bench hardware on serial ports into the gateway: `serial [run] --port …` bridges, `serial list`, `serial simulate`');
  cmd.command('run', { isDefault: true })
    .description('bridge serial ports into the gateway: the one given by --port, or every port of serial.ports')
    .option('--port <path>', 'serial device, e.g. /dev/ttyUSB0 (default: every port in serial.ports)')
    .option('--baud <rate>', 'line speed (default 115200)')
    .option('--device <id>', 'registered device the readings are published as')
    .option('--secret <secret>', 'device secret')
    .option('--secret-file <file>', 'file holding the device secret')
    .addOption(new Option('--format <format>', 'line format (default json)').choices(['json', 'kv']))
    .option('--kind <kind>', 'device kind (narrows number coercion of key=value lines)')
    .option('--field-map <pairs>', 'rename keys, e.g. t=temp_c,l=load_kg')
    .option('--write-back', 'write messages from devices/{id}/commands/# to the port')
    .option('--max-line-bytes <n>', 'longest line (default 8192)')
    .option('--mqtt-url <url>', 'gateway broker (default serial.mqttUrl, else mqtt://127.0.0.1:<mqtt.port>)')
    .action(async (opts: BridgeFlags, c: Command) => runBridge(opts, c.optsWithGlobals().config));

  cmd.command('list')
    .description('list the serial ports present')
    .option('--json', 'print a JSON array')
    .action(async (opts: { json?: boolean }) => {
      const ports = await listPorts();
      if (opts.json) process.stdout.write(`${JSON.stringify(ports, null, 2)}\n`);
      else if (ports.length === 0) process.stdout.write('no serial ports found\n');
      else for (const p of ports) process.stdout.write(`${p.path}  ${[p.manufacturer, p.vendorId && `${p.vendorId}:${p.productId}`, p.serialNumber].filter(Boolean).join('  ')}\n`);
    });

  cmd.command('simulate')
    .description('write a simulated device\'s readings as lines to a serial port (try the bridge without hardware)')
    .requiredOption('--port <path>', 'serial port to write to (e.g. one end of a socat pty pair)')
    .requiredOption('--device <id>', 'the simulated device (its id seeds the readings with --seed)')
    .requiredOption('--kind <kind>', 'washer, fridge or car')
    .option('--seed <n>', 'PRNG seed (same seed, same readings)', '1')
    .option('--rate <n/s>', 'lines per second, e.g. 5 or 5/s', '1')
    .option('--count <n>', 'stop after this many lines (default: until Ctrl-C)')
    .option('--baud <rate>', 'line speed', '115200')
    .addOption(new Option('--format <format>', 'line format').choices(['json', 'kv']).default('json'))
    .action(async (o: { port: string; device: string; kind: string; seed: string; rate: string; count?: string; baud: string; format: 'json' | 'kv' }) => {
      const seed = Number(o.seed);
      if (!Number.isSafeInteger(seed)) throw usage(`--seed: expected a whole number, got "${o.seed}"`);
      const rate = Number(o.rate.replace(/\/s$/, ''));
      if (!(rate > 0) || rate > 100_000) throw usage(`--rate: expected lines per second above 0 (e.g. 5 or 5/s), got "${o.rate}"`);
      let lastShown = Date.now();
      const { value: r } = await runUntilSignal((signal) => runSimSerial({
        path: o.port, baudRate: wholeNumber('--baud', o.baud)!, kind: o.kind, seed: seed ^ fnv1a(o.device), rate,
        count: wholeNumber('--count', o.count), format: o.format, signal,
        onLine: (_line, n) => {
          if (Date.now() - lastShown >= 5_000) {
            lastShown = Date.now();
            process.stderr.write(`${n}${o.count ? `/${o.count}` : ''} lines written\n`);
          }
        },
      }));
      const types = Object.entries(r.byType).map(([t, n]) => `${n} ${t}`).join(', ');
      process.stdout.write(`wrote ${r.lines} lines (${types || 'none'}) as ${o.device} to ${o.port} in ${r.seconds.toFixed(1)} s\n`);
    });
  return cmd;
}
