import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { loadConfig } from '../../config/load.ts';
import { runUntilSignal, untilAborted } from '../../core/cli-kit.ts';
import { DAY_MS, dayFloor, parseTime } from '../../core/time.ts';
import { Registry } from '../../core/registry/index.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { loadCatalogue } from '../../protocol/models.ts';
import { backtest, formatReport } from '../../analytics/backtest/backtest.ts';
import { loadManifest, parseManifest, type ManifestDevice } from '../../analytics/backtest/manifest.ts';
import type { DeviceInfo } from '../../analytics/detectors/index.ts';
import { featureSpecs } from '../../analytics/engine/evaluate.ts';
import type { RunSummary } from '../../analytics/engine/job.ts';
import { ReadingsSource } from '../../analytics/features/readings.ts';
import { FeatureSource, type DailySource } from '../../analytics/features/source.ts';
import { createAnalytics } from '../../analytics/service.ts';
import { simulatedHistory } from '../../firmware-sim/history.ts';

const usage = (m: string) => new UsageGatewayError('GW_ERR_USAGE', m);

function progressBar(label: string, unit = 'devices') {
  if (!process.stderr.isTTY) {
    let last = 0;
    return {
      update(p: { kind: string; done: number; total: number }) {
        if (Date.now() - last > 2_000 || p.done === p.total) {
          last = Date.now();
          process.stderr.write(`${label}: ${p.kind} ${p.done}/${p.total} ${p.kind === 'features' ? 'days' : unit}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new SingleBar({ format: `${label} {kind} [{bar}] {value}/{total} {unit}`, stream: process.stderr, hideCursor: true }, undefined);
  let kind = '';
  return {
    update(p: { kind: string; done: number; total: number }) {
      if (p.kind !== kind) {
        if (kind) bar.stop();
        kind = p.kind;
        bar.start(p.total, 0, { kind, unit: kind === 'features' ? 'days' : unit });
      }
      bar.update(p.done, { kind, unit: kind === 'features' ? 'days' : unit });
    },
    stop: () => kind && bar.stop(),
  };
}

function formatRun(s: RunSummary, delivered: number, pending: number): string {
  const supp = Object.entries(s.suppressed).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `Analytics run as of ${s.asOf}: ${s.devices} devices, ${s.rules.length} rules, ${s.queries} InfluxQL queries, ${(s.durationMs / 1000).toFixed(1)} s`,
    ...(s.layer ? [`feature layer: ${s.layer.daysBuilt} day(s) built, ${s.layer.rowsWritten} device-days written (built or recomputed for late readings)`] : []),
    ...(s.partition ? [`partition ${s.partition.index} of ${s.partition.count} (numbered from 0): ${s.partition.devices} devices`] : []),
    `${s.candidates} candidates → ${s.fired} new triggers; held back: ${supp}`,
    `deliveries attempted ${delivered}; waiting in the outbox ${pending}`,
    '',
    ...Object.entries(s.byRule).map(([id, r]) => `  ${id.padEnd(24)} candidates ${String(r.candidates).padStart(5)}  fired ${String(r.fired).padStart(5)}  held back ${String(r.suppressed).padStart(5)}`),
  ];
  return lines.join('\n');
}

const collect = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)];

/** `usage-gateway analytics`: the service, and run / backtest / rules / identity. */
export function analyticsCommand(): Command {
  const cmd = new Command('analytics')
    .description('run the analytics service: rules on a schedule, trigger delivery, API and trigger inbox')
    .action(async (_o: unknown, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const analytics = createAnalytics(config);
      await runUntilSignal(async (signal) => {
        await analytics.start();
        await untilAborted(signal);
        analytics.log.info({ signal: signal.reason }, 'analytics shutting down');
        await analytics.stop();
      }, { say: (line) => analytics.log.warn(line) });
      process.exit(0);
    });

  cmd.command('run')
    .description('run the rules once now (or as of a time), store and deliver the triggers, print a summary')
    .option('--rule <ids>', 'only these rules (comma-separated or repeated)', collect)
    .option('--as-of <time>', 'evaluate as of this time instead of now (ISO, "now", "-7d")')
    .option('--deliver-ms <ms>', 'time spent delivering before exiting; the service delivers the rest', '15000')
    .option('--json', 'print the summary as JSON')
    .action(async (o: { rule?: string[]; asOf?: string; deliverMs: string; json?: boolean }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const analytics = createAnalytics(config);
      try {
        const bar = o.json ? undefined : progressBar('evaluating');
        const summary = await analytics.run({ ruleIds: o.rule, asOfMs: o.asOf ? parseTime(o.asOf, '--as-of') : undefined, onProgress: (p) => bar?.update(p) });
        bar?.stop();
        const delivered = await analytics.outbox.flush(Number(o.deliverMs));
        const pending = analytics.state.outboxDepth();
        process.stdout.write(o.json ? `${JSON.stringify({ ...summary, delivered, pending }, null, 2)}\n` : `${formatRun(summary, delivered, pending)}\n`);
      } finally {
        await analytics.stop();
      }
    });

  const features = cmd.command('features').description('the daily feature layer that runs read (per device and UTC day, the aggregates of the rules)');
  features.command('build')
    .description('build the layer for existing history (a backfill): every complete day of the range it lacks, with progress; runs build what they need themselves')
    .option('--from <time>', 'first day (ISO, "-90d")', '-120d')
    .option('--to <time>', 'end of the range (ISO, "now"); only complete days before it are built', 'now')
    .option('--rebuild', 'build every day of the range again, also those already built (after readings were held back longer than the build margin, e.g. an InfluxDB outage)')
    .option('--json', 'print the summary as JSON')
    .action(async (o: { from: string; to: string; rebuild?: boolean; json?: boolean }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const fromMs = parseTime(o.from, '--from');
      const toMs = parseTime(o.to, '--to');
      if (!(toMs > fromMs)) throw usage('--to must be after --from');
      const analytics = createAnalytics(config);
      try {
        const started = Date.now();
        const bar = progressBar('feature layer', 'days'); // stderr, also with --json
        const r = await analytics.buildFeatures(fromMs, toMs, (p) => bar?.update(p), o.rebuild);
        bar?.stop();
        const out = { from: new Date(dayFloor(fromMs)).toISOString(), to: new Date(dayFloor(toMs)).toISOString(), daysBuilt: r.days, rowsWritten: r.rows, queries: r.queries, durationMs: Date.now() - started };
        process.stdout.write(o.json ? `${JSON.stringify(out, null, 2)}\n` : `Feature layer ${out.from.slice(0, 10)} … ${out.to.slice(0, 10)}: ${r.days} day(s) built${o.rebuild ? '' : ' (the others were there already)'}, ${r.rows} device-days written, ${r.queries} InfluxQL queries, ${(out.durationMs / 1000).toFixed(1)} s\n`);
      } finally {
        await analytics.stop();
      }
    });

  cmd.command('backtest')
    .description('run rules over history as the daily schedule would have, without firing anything; with a ground-truth manifest (or --sim), precision and recall per rule')
    .option('--from <time>', 'start of the history (ISO, "-90d"); with --sim: the epoch minus --days')
    .option('--to <time>', 'end of the history (ISO, "now"); with --sim: the epoch unless given')
    .option('--rule <ids>', 'only these rules (comma-separated or repeated); default: every rule, enabled or not', collect)
    .option('--manifest <file>', 'simulator ground-truth manifest (JSON or JSON lines): devices, personas and what is true of them day by day')
    .addOption(new Option('--step <days>', 'days between evaluations (production runs daily)').default('1'))
    .option('--sim', 'a simulated fleet generated in memory (readings as the gateway would store them) instead of InfluxDB')
    .option('--profile <profile>', 'with --sim: realistic (the default) or clean')
    .option('--devices <n>', 'with --sim: devices in the fleet', '2000')
    .option('--days <n>', 'with --sim: days of history (up to the epoch, or --to)', '365')
    .option('--seed <n>', 'with --sim: the fleet\'s seed', '1')
    .option('--epoch <date>', 'with --sim: the fleet\'s reference day, where the history ends (default today)')
    .option('--noise <figures>', 'with --sim, realistic: sensor noise, e.g. load=0.5,vibration=0.33,temp=0.3,soh=0.4,stuck=1,missing=3')
    .option('--json', 'print the report as JSON')
    .action(async (o: { from?: string; to?: string; rule?: string[]; manifest?: string; step: string; sim?: boolean; profile?: string; devices: string; days: string; seed: string; epoch?: string; noise?: string; json?: boolean }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const step = Number(o.step);
      if (!Number.isInteger(step) || step < 1) throw usage(`--step: expected a whole number of days, got "${o.step}"`);
      const { loadRules, DEFAULT_RULES_PATH } = await import('../../analytics/rules.ts');
      const all = loadRules(config.analytics.rulesPath ?? DEFAULT_RULES_PATH);
      for (const id of o.rule ?? []) if (!all.some((r) => r.id === id)) throw usage(`no rule "${id}"; known: ${all.map((r) => r.id).join(', ')}`);
      const rules = o.rule?.length ? all.filter((r) => o.rule!.includes(r.id)) : all;
      const catalogue = loadCatalogue(config.models.path);
      let manifest: ManifestDevice[] | undefined;
      let source: DailySource;
      let fromMs: number;
      let toMs: number;
      let devices: DeviceInfo[];
      let close = async () => {};
      if (o.sim) {
        if (o.manifest || o.from) throw usage('--sim generates its own history and manifest: leave out --manifest and --from (use --days, --epoch and --to)');
        const whole = (name: string, v: string, max: number) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1 || n > max) throw usage(`${name}: expected a whole number from 1 to ${max}, got "${v}"`);
          return n;
        };
        const epochMs = dayFloor(parseTime(o.epoch ?? 'now', '--epoch'));
        const days = whole('--days', o.days, 900);
        const sim = simulatedHistory({ seed: whole('--seed', o.seed, 2 ** 31 - 1), devices: whole('--devices', o.devices, 1_000_000), epochMs, catalogue, profile: o.profile, noise: o.noise });
        manifest = parseManifest(sim.manifest, 'the simulated fleet');
        devices = manifest;
        toMs = o.to ? parseTime(o.to, '--to') : epochMs;
        fromMs = toMs - days * DAY_MS;
        const kinds = [...new Set(manifest.map((d) => d.kind))];
        source = new ReadingsSource({ readings: (d, a, b) => sim.readings(d, a, b) }, catalogue, new Map(kinds.map((k) => [k, featureSpecs(rules, k)])));
        if (!o.json) process.stderr.write(`backtest: a ${(sim.manifest as { profile?: string }).profile ?? ''} fleet of ${manifest.length} devices (seed ${o.seed}, epoch ${new Date(epochMs).toISOString().slice(0, 10)}), ${days} days of history generated in memory\n`);
      } else {
        if (!o.from || !o.to) throw usage('--from and --to are required (or --sim)');
        fromMs = parseTime(o.from, '--from');
        toMs = parseTime(o.to, '--to');
        if (!(toMs > fromMs)) throw usage('--to must be after --from');
        const analytics = createAnalytics(config);
        close = () => analytics.stop();
        source = new FeatureSource(analytics.influx, catalogue);
        manifest = o.manifest ? loadManifest(o.manifest) : undefined;
        devices = manifest ?? [];
        if (!manifest) {
          const registry = new Registry(config.registry.path, catalogue);
          await registry.load();
          devices = registry.devices().map((d) => ({ id: d.id, kind: d.kind, model: d.model, owner: d.owner, ownerSince: d.ownerSince, consent: d.consent }));
        }
      }
      try {
        if (devices.length === 0) throw usage('no devices: give --manifest, or register devices in the registry');
        const bar = o.json ? undefined : progressBar('backtest');
        const report = await backtest({
          source, catalogue, rules, devices, fromMs, toMs, stepDays: step, pageSize: Math.min(config.analytics.pageSize, 250), manifest,
          policy: { serviceOpenDays: config.analytics.policy.serviceOpenDays }, onProgress: (p) => bar?.update(p),
        });
        bar?.stop();
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
      } finally {
        await close();
      }
    });

  cmd.command('rules')
    .description('validate the rule catalogue and list its rules')
    .option('--json', 'print a JSON array')
    .action(async (o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const { loadRules, DEFAULT_RULES_PATH } = await import('../../analytics/rules.ts');
      const rules = loadRules(config.analytics.rulesPath ?? DEFAULT_RULES_PATH);
      const rows = rules.map((r) => ({ id: r.id, version: r.version, enabled: r.enabled, category: r.category, purpose: r.purpose, kinds: r.kinds.join(','), detector: r.detector, windowDays: r.windowDays, cooldownDays: r.cooldownDays, offer: r.offer.type, personas: r.personas.join(',') }));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else {
        const { printRows } = await import('../context.ts');
        printRows(rows, false, ['id', 'version', 'enabled', 'category', 'purpose', 'kinds', 'windowDays', 'cooldownDays', 'offer', 'personas']);
      }
    });

  cmd.command('identity')
    .description('register the identity analytics publishes triggers with (MQTT triggers/#) and print its secret once')
    .option('--id <id>', 'identity id', 'analytics')
    .action(async (o: { id: string }, c: Command) => {
      const config = loadConfig({ file: c.optsWithGlobals().config });
      const registry = new Registry(config.registry.path, loadCatalogue(config.models.path));
      await registry.load();
      const { secret } = await registry.addConsumer(o.id, 'analytics');
      process.stdout.write(`registered analytics identity "${o.id}"; set these (the secret is not shown again):\n  UG_ANALYTICS_DELIVERY_MQTT_USERNAME=${o.id}\n  UG_ANALYTICS_DELIVERY_MQTT_PASSWORD=${secret}\n`);
    });
  return cmd;
}
