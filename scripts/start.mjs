// `npm start`: the whole thing on one machine. Makes sure the npm dependencies and a local
// InfluxDB are there, starts the gateway and the analytics service, provisions a small
// simulated fleet with 90 days of history on the first run, keeps it publishing live, and
// prints where to look. Everything it keeps lives in .local/ (delete it, or pass --reset, to
// start afresh). Ctrl-C stops every process it started.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDebianPackages, ensureNodeModules, root } from './setup.mjs';

const HELP = `usage: npm start [-- options]

  --devices <n>   devices in the simulated fleet on the first run (default 50, the
                  smallest default mix that holds every persona); a realistic fleet
                  (sim provision --profile realistic)
  --days <n>      days of history backfilled on the first run (default 120: the
                  longest rule looks back 16 weeks)
  --speed <f>     the live fleet replays the last 10 hours this many times faster than
                  real time, then goes on in real time (default 60)
  --reset         forget .local/ (InfluxDB data, registry, spool, fleet) and start afresh
  --help          this text

Environment: UG_INFLUX_URL uses that InfluxDB 1.x instead of starting a local one; any other
UG_* setting (see docs/configuration.md) is passed to the gateway and analytics.`;

let args;
try {
  args = parseArgs({
    options: {
      devices: { type: 'string', default: '50' },
      days: { type: 'string', default: '120' },
      speed: { type: 'string', default: '60' },
      reset: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }).values;
} catch (err) {
  process.stderr.write(`error GW_ERR_USAGE: ${err.message}\n\n${HELP}\n`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
for (const k of ['devices', 'days', 'speed']) {
  if (!(Number(args[k]) > 0)) {
    process.stderr.write(`error GW_ERR_USAGE: --${k} must be a positive number, got "${args[k]}"\n`);
    process.exit(2);
  }
}

const say = (msg) => process.stdout.write(`[start] ${msg}\n`);
const local = join(root, '.local');
if (args.reset) {
  say('removing .local/ (--reset)');
  rmSync(local, { recursive: true, force: true });
}
mkdirSync(join(local, 'logs'), { recursive: true });

ensureNodeModules();
ensureDebianPackages(process.env.UG_INFLUX_URL ? [] : ['influxd'], {});
ensureDebianPackages(['mosquitto_sub'], { optional: ['mosquitto_sub'] });

const { register } = await import('tsx/esm/api');
register();
const { startLocalInflux } = await import('../test/harness/influx-local.ts');

/** The conventional port when it is free, otherwise any free one. */
function port(preferred) {
  const tryListen = (p) => new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen(p, '0.0.0.0', () => {
      const got = srv.address().port;
      srv.close(() => resolve(got));
    });
  });
  return tryListen(preferred).then((p) => p ?? tryListen(0));
}

const children = [];
let influx;
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  say('stopping…');
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => {
        const t = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 15_000);
        child.once('exit', () => { clearTimeout(t); resolve(); });
      });
    }
  }
  await influx?.stop();
  say('stopped; data kept in .local/ for the next `npm start`');
  process.exit(code);
}
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
// Should this script end any other way, its children (in their own groups) do not outlive it.
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
});

function fail(msg) {
  process.stderr.write(`[start] ${msg}\n`);
  return shutdown(1);
}

// Secrets the demo keeps between runs: the API token and the analytics identity.
const secretsPath = join(local, 'secrets.json');
const secrets = existsSync(secretsPath) ? JSON.parse(readFileSync(secretsPath, 'utf8')) : {};
secrets.apiToken ??= randomBytes(18).toString('base64url');
writeFileSync(secretsPath, JSON.stringify(secrets, null, 2), { mode: 0o600 });

let influxUrl = process.env.UG_INFLUX_URL;
if (!influxUrl) {
  say('starting InfluxDB (data in .local/influxdb)…');
  try {
    influx = await startLocalInflux({ dataDir: join(local, 'influxdb'), port: await port(8086) });
  } catch (err) {
    await fail(`InfluxDB did not start: ${err.message}`);
  }
  influxUrl = influx.url;
}

const ports = { mqtt: await port(1883), http: await port(8080), api: await port(8090) };
const env = {
  ...process.env,
  UG_DATA_DIR: join(local, 'data'),
  UG_INFLUX_URL: influxUrl,
  UG_MQTT_PORT: String(ports.mqtt),
  UG_HTTP_PORT: String(ports.http),
  UG_ANALYTICS_API_PORT: String(ports.api),
  UG_ANALYTICS_API_TOKEN: secrets.apiToken,
  // The demo runs the rules every minute so that the live fleet's triggers show up soon.
  UG_ANALYTICS_SCHEDULE: process.env.UG_ANALYTICS_SCHEDULE ?? '* * * * *',
  UG_LOG_LEVEL: process.env.UG_LOG_LEVEL ?? 'info',
};
const cli = join(root, 'bin', 'usage-gateway.mjs');
// The backfill stops this long before now and the live fleet replays it time-compressed, so
// readings flow at once; a restart replays it again, and a replayed reading is the same point.
const LIVE_REPLAY = '10h';

/** Runs a CLI command to completion, its output shown as it comes. */
function run(argv, { quiet = false } = {}) {
  const r = spawnSync(process.execPath, [cli, ...argv], { cwd: root, env, stdio: ['ignore', quiet ? 'pipe' : 'inherit', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`usage-gateway ${argv.join(' ')} exited with code ${r.status}`);
  return r.stdout ?? '';
}

/** Starts a long-running CLI command with its output in .local/logs/<name>.log. */
function background(name, argv) {
  const log = createWriteStream(join(local, 'logs', `${name}.log`), { flags: 'a' });
  // Each child in its own process group: Ctrl-C in the terminal reaches this script only, and
  // each child gets exactly one SIGTERM from shutdown() (a second signal means "exit now").
  const child = spawn(process.execPath, [cli, ...argv], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  child.once('exit', (code, signal) => {
    if (!stopping) fail(`${name} exited (${signal ?? `code ${code}`}); see .local/logs/${name}.log`);
  });
  children.push(child);
  return child;
}

async function waitFor(what, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch { /* not up yet */ }
    if (stopping) return;
    if (Date.now() > deadline) return fail(`${what} did not answer ${url} within ${timeoutMs / 1000} s; see .local/logs/`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

try {
  say(`starting the gateway (MQTT ${ports.mqtt}, HTTP ${ports.http}; log in .local/logs/gateway.log)…`);
  background('gateway', ['gateway']);
  await waitFor('the gateway', `http://127.0.0.1:${ports.http}/readyz`, 60_000);

  if (!secrets.analyticsPassword) {
    const out = run(['analytics', 'identity', '--id', secrets.analyticsId ?? `analytics-${randomBytes(3).toString('hex')}`], { quiet: true });
    secrets.analyticsId = /USERNAME=(\S+)/.exec(out)[1];
    secrets.analyticsPassword = /PASSWORD=(\S+)/.exec(out)[1];
    writeFileSync(secretsPath, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  }
  env.UG_ANALYTICS_DELIVERY_MQTT_USERNAME = secrets.analyticsId;
  env.UG_ANALYTICS_DELIVERY_MQTT_PASSWORD = secrets.analyticsPassword;

  const fleetFile = join(local, 'data', 'sim', 'fleet.json');
  if (!existsSync(fleetFile)) {
    say(`first run: provisioning ${args.devices} simulated devices (realistic: households away together, seasons, noisy sensors) and backfilling ${args.days} days of history…`);
    run(['sim', 'provision', '--devices', args.devices, '--seed', '7', '--profile', 'realistic']);
    run(['sim', 'backfill', '--days', args.days, '--until', `now-${LIVE_REPLAY}`]);
  } else {
    say('the simulated fleet from an earlier run is kept (npm start -- --reset starts afresh)');
  }

  say('starting analytics (rules every minute, API and trigger inbox; log in .local/logs/analytics.log)…');
  background('analytics', ['analytics']);
  await waitFor('analytics', `http://127.0.0.1:${ports.api}/healthz`, 60_000);
  say(`starting the live fleet: the last ${LIVE_REPLAY} at ${args.speed}× speed, then real time (log in .local/logs/sim.log)…`);
  background('sim', ['sim', 'live', '--speed', args.speed, '--since', `now-${LIVE_REPLAY}`]);
} catch (err) {
  await fail(err.message);
}

const db = process.env.UG_INFLUX_DATABASE ?? 'usage';
process.stdout.write(`
Usage Gateway is running. Where to look:

  MQTT broker        mqtt://127.0.0.1:${ports.mqtt}   (devices: npx usage-gateway devices list)
  gateway status     http://127.0.0.1:${ports.http}/status   or   npx usage-gateway status
  metrics            http://127.0.0.1:${ports.http}/metrics
  trigger inbox      http://127.0.0.1:${ports.api}/inbox     API token: ${secrets.apiToken}
  API docs           http://127.0.0.1:${ports.api}/docs
  InfluxDB           ${influxUrl}   database "${db}", e.g.
                     curl -G '${influxUrl}/query' --data-urlencode 'db=${db}' \\
                       --data-urlencode 'q=SELECT count(load_kg) FROM washer_cycle WHERE time > now() - 7d GROUP BY model'
  product insights   UG_INSIGHTS_MIN_DEVICES=3 npx usage-gateway insights --from -${args.days}d --format html --out .local/insights.html
                     (per model: usage, error rates by usage band and firmware, owners outgrowing their washer;
                     only devices whose owners consented to analytics count: about half of the simulated owners;
                     a model with fewer than 3 such devices says "too few devices"; docs/insights.md)
  Grafana            docker-compose up (needs a Docker engine); boards are in grafana/
  logs               .local/logs/

Settings for other commands in this shell:
  export UG_DATA_DIR=${env.UG_DATA_DIR} UG_INFLUX_URL=${influxUrl} UG_MQTT_PORT=${ports.mqtt} UG_HTTP_PORT=${ports.http}

A summary line follows every 30 s. Ctrl-C stops everything.
`);

async function summary() {
  try {
    const s = await (await fetch(`http://127.0.0.1:${ports.http}/status`)).json();
    const t = await (await fetch(`http://127.0.0.1:${ports.api}/api/triggers?limit=500`, { headers: { authorization: `Bearer ${secrets.apiToken}` } })).json();
    const byCategory = {};
    for (const tr of t.items ?? []) byCategory[tr.category] = (byCategory[tr.category] ?? 0) + 1;
    const refused = Object.values(s.readings.refused ?? {}).reduce((a, b) => a + b, 0);
    const devices = Object.values(s.connections ?? {}).reduce((a, b) => a + b, 0);
    say(`${devices} connected · readings received ${s.readings.received}, refused ${refused}, points written ${s.readings.written} (with the gateway's own figures) · spool ${s.spool.depthRecords} records · triggers ${JSON.stringify(byCategory)}`);
  } catch (err) {
    say(`summary unavailable: ${err.message}`);
  }
}
if (!stopping) {
  await summary();
  setInterval(summary, 30_000).unref();
  // Keep running until Ctrl-C; the children's exit handlers report failures.
  setInterval(() => {}, 1 << 30);
}
