// `npm run bench -- ingest|burst|connections|auth|analytics|decode|all [--quick]`: see bench/README.md.
import { Command, Option } from 'commander';
import { runAnalytics } from './analytics.ts';
import { runAuth } from './auth.ts';
import { runBurst } from './burst.ts';
import { runConnections } from './connections.ts';
import { runDecode } from './decode.ts';
import { runIngest } from './ingest.ts';

const program = new Command('bench')
  .description('benchmarks of the gateway: ingest, burst, connections, auth, analytics, decode (figures, not tests)')
  .argument('[which]', 'ingest, burst, connections, auth, analytics, decode or all', 'all')
  .option('--quick', 'short steps and smaller fleets: a smoke run of a few minutes')
  .option('--devices <n>', 'ingest, burst: devices publishing (default 1000)')
  .option('--step <s>', 'ingest: seconds each +10 % step is held (default 60, quick 3)')
  .option('--half <s>', 'ingest: seconds at half the knee (default 60, quick 5)')
  .option('--outage <s>', 'ingest: seconds InfluxDB is paused (default 60, quick 10)')
  .option('--start-rate <n>', 'ingest: readings/s of the first warm-up step (default 4000)')
  .option('--only <names>', 'ingest, burst: only these configurations, comma-separated prefixes (e.g. gateway-qos0,bare-aedes,influx-ceiling,outage)')
  .option('--cpu-prof <dir>', 'ingest, auth: write a CPU profile of each gateway process into this folder; decode: of each implementation')
  .option('--per-device <n>', 'burst: readings each device sends, one per message (default 200, quick 50)')
  .option('--window <n>', 'burst: QoS 1 messages a device may have unacknowledged (default 16)')
  .option('--connections <list>', 'connections: counts to hold, comma-separated (default 2500,5000,10000,15000; quick 2500,10000)')
  .option('--storm <n>', 'auth: registered devices reconnecting at once (default 10000, quick 2000)')
  .option('--storm-inflight <n>', 'auth: connections opening at a time (default 1000)')
  .option('--fleets <list>', 'analytics: fleet sizes, comma-separated (default 1000,10000; quick 100,1000)')
  .addOption(new Option('--days <n>', 'analytics: days of history').default('90'))
  .option('--keep <dir>', 'analytics: keep the backfilled InfluxDB and registries here and reuse them on later runs')
  .option('--raw-up-to <n>', 'analytics: fleets up to this size get raw history and a layer built from it; larger ones a layer written directly (default 10000)')
  .option('--repeat <n>', 'analytics: runs over the layer per fleet (default 2)')
  .option('--concurrency <n>', 'analytics: pages queried at once (default: the setting, 4)')
  .option('--runs <n>', 'decode: timed runs of each case, the median is reported (default 5, quick 3)')
  .action(async (which: string, o: Record<string, string | boolean | undefined>) => {
    const quick = Boolean(o.quick);
    const num = (v: unknown, d: number) => (v === undefined ? d : Number(v));
    const list = (v: unknown, d: number[]) => (typeof v === 'string' ? v.split(',').map(Number) : d);
    if (!['ingest', 'burst', 'connections', 'auth', 'analytics', 'decode', 'all'].includes(which)) {
      process.stderr.write(`unknown benchmark "${which}": expected ingest, burst, connections, auth, analytics, decode or all\n`);
      process.exit(2);
    }
    let ok = true;
    if (which === 'ingest' || which === 'all') {
      const r = await runIngest({
        quick, devices: num(o.devices, 1_000), stepS: num(o.step, quick ? 3 : 60), rampS: quick ? 2 : 5, halfS: num(o.half, quick ? 5 : 60),
        outageS: num(o.outage, quick ? 10 : 60), startRate: num(o.startRate, 4_000),
        only: typeof o.only === 'string' ? o.only.split(',') : undefined, cpuProf: typeof o.cpuProf === 'string' ? o.cpuProf : undefined,
      });
      ok &&= r.ok;
    }
    if (which === 'burst' || which === 'all') {
      const r = await runBurst({
        quick, devices: num(o.devices, 1_000), perDevice: num(o.perDevice, quick ? 50 : 200), window: num(o.window, 16),
        only: typeof o.only === 'string' ? o.only.split(',') : undefined,
      });
      ok &&= r.ok;
    }
    if (which === 'connections' || which === 'all') {
      const r = await runConnections({ quick, counts: list(o.connections, quick ? [2_500, 10_000] : [2_500, 5_000, 10_000, 15_000]) });
      ok &&= r.ok;
    }
    if (which === 'auth' || which === 'all') {
      const r = await runAuth({ quick, devices: num(o.storm, quick ? 2_000 : 10_000), inflight: num(o.stormInflight, 1_000), cpuProf: typeof o.cpuProf === 'string' ? o.cpuProf : undefined });
      ok &&= r.ok;
    }
    if (which === 'analytics' || which === 'all') {
      const r = await runAnalytics({ quick, fleets: list(o.fleets, quick ? [100, 1_000] : [1_000, 10_000]), days: num(o.days, 90), keep: typeof o.keep === 'string' ? o.keep : undefined, rawUpTo: num(o.rawUpTo, 10_000), baselineUpTo: num(o.rawUpTo, 10_000), repeat: num(o.repeat, 2), concurrency: o.concurrency ? num(o.concurrency, 4) : undefined });
      ok &&= r.ok;
    }
    if (which === 'decode' || which === 'all') {
      const r = await runDecode({ quick, runs: num(o.runs, quick ? 3 : 5), runS: quick ? 0.15 : 0.5, cpuProf: typeof o.cpuProf === 'string' ? o.cpuProf : undefined });
      ok &&= r.ok;
    }
    // A missed target is a finding, not a failure of the run: the exit code says it for scripts.
    process.exitCode = ok ? 0 : 3;
  });

await program.parseAsync();
