// The ingest benchmark's peer: the pipeline a user would build instead of the gateway,
// Mosquitto → Node-RED (node-red-contrib-influxdb, batched writes) → InfluxDB 1.x.
// Node-RED and its InfluxDB nodes are installed into bench/peer on first use (they are not
// dependencies of the project); the mosquitto binary comes from Debian (scripts/bench.mjs).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { KINDS } from '../../protocol/kinds/index.ts';
import { freePort } from '../../test/harness/influx-local.ts';

export const PEER_DIR = fileURLToPath(new URL('../peer/', import.meta.url));
const NODE_RED = join(PEER_DIR, 'node_modules', 'node-red', 'red.js');
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';

/** Readings per InfluxDB write, and the longest a reading waits for its batch (the join node). */
export const PEER_BATCH = { count: 1_000, timeoutS: 0.2 };

/** Mosquitto's queue per subscriber: ~50 s of the highest rates here, so that it is not what drops readings. */
const MAX_QUEUED_MESSAGES = 1_000_000;

/** The device the readiness probe publishes as; its point is dropped again before the load starts. */
const READY_DEVICE = 'peer-ready';

export interface PeerOptions {
  influxUrl: string;
  database: string;
  /** A throwaway folder for the configuration, flow and Node-RED's userDir. */
  workDir: string;
  log: (m: string) => void;
  /** QoS of Node-RED's subscription (the run's QoS). Default 1. */
  qos?: 0 | 1;
  /** device id → model, for the `model` tag the gateway writes (from its registry). */
  models?: Record<string, string>;
}

export interface Peer {
  /** Mosquitto's listener, mqtt://127.0.0.1:port. */
  url: string;
  pids: { mosquitto: number; nodeRed: number };
  /** Readings the flow has turned into points so far (what the peer has taken in; the bench's counter in the function node). */
  processed(): Promise<number>;
  /** Warnings and errors Mosquitto and Node-RED logged since the last call. */
  warnings(): string[];
  /** Stops Node-RED, then Mosquitto (SIGTERM, SIGKILL after 10 s), and waits for both to exit. */
  stop(): Promise<void>;
}

/**
 * Installs bench/peer's packages (node-red, node-red-contrib-influxdb) from its package-lock.json
 * when they are missing or older than it. No install scripts run and optional packages (a native
 * bcrypt, unused here) are left out, so nothing but registry packages is fetched.
 */
export async function ensurePeerModules(log: (m: string) => void): Promise<void> {
  const lock = join(PEER_DIR, 'package-lock.json');
  const marker = join(PEER_DIR, 'node_modules', '.package-lock.json');
  if (existsSync(marker) && existsSync(NODE_RED) && statSync(marker).mtimeMs + 1000 >= statSync(lock).mtimeMs) return;
  const args = ['ci', '--prefix', PEER_DIR, '--no-audit', '--no-fund', '--omit=optional', '--ignore-scripts'];
  log(`peer: installing Node-RED and node-red-contrib-influxdb into bench/peer (npm ${args.join(' ')})…`);
  const child = spawn('npm', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-4_000)));
  const code = await new Promise<number | null>((r) => {
    child.once('error', () => r(-1));
    child.once('exit', (c) => r(c));
  });
  if (code !== 0) {
    throw new Error(`installing the peer's packages failed (npm exited with ${code}):\n${err}\nRun it by hand to see why: npm ci --prefix bench/peer --no-audit --no-fund --omit=optional --ignore-scripts (needs the npm registry).`);
  }
  log('peer: installed');
}

/**
 * Mosquitto's configuration. Each setting is here so that the broker neither refuses nor drops
 * what the load sends: a baseline that silently dropped would look faster than it is.
 */
function mosquittoConf(port: number): string {
  return [
    '# The ingest benchmark\'s peer broker (bench/lib/peer.ts).',
    `listener ${port} 127.0.0.1`,
    '# The load connects without credentials (as to the bare Aedes baseline).',
    'allow_anonymous true',
    '# Nothing on disk: the pipeline\'s state lives in memory, as with the bare broker.',
    'persistence false',
    '# Messages queued for a subscriber that lags (Node-RED), QoS 0 included: above this Mosquitto',
    '# drops them (logging "Outgoing messages are being dropped", which the bench reports). The',
    '# default (1,000) would drop within a fraction of a second at these rates.',
    `max_queued_messages ${MAX_QUEUED_MESSAGES}`,
    '# No byte limit on that queue (the default, said for clarity).',
    'max_queued_bytes 0',
    '# QoS 1 messages in flight to Node-RED at once (default 20): a window wide enough that the',
    '# round trip of its PUBACK does not limit the throughput.',
    'max_inflight_messages 1000',
    '# The gateway disables Nagle too: small packets go out at once.',
    'set_tcp_nodelay true',
    '# No $SYS topics, no line per device connection.',
    'sys_interval 0',
    'connection_messages false',
    '# stderr: unbuffered, so the bench sees the lines as they are written.',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    '',
  ].join('\n');
}

/**
 * Node-RED's settings: runtime only (no editor, admin API or HTTP nodes), quiet logs, nothing
 * fetched. And the bench's one instrument inside the pipeline: `bench.processed`, the readings
 * the function node has turned into points (Node-RED reads from Mosquitto greedily and queues
 * in memory, so this, not what Mosquitto delivered, is what the peer has taken in), served on
 * its own small HTTP server in the Node-RED process, which answers beside the flow's queue.
 */
function nodeRedSettings(o: { userDir: string; flowFile: string; port: number; countPort: number; models: Record<string, string> }): string {
  const settings = {
    userDir: o.userDir,
    flowFile: o.flowFile,
    uiHost: '127.0.0.1',
    uiPort: o.port,
    // false: no editor and no admin API; the flow has no HTTP nodes, so Node-RED serves no HTTP at all.
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    credentialSecret: false,
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    editorTheme: { projects: { enabled: false } },
  };
  return [
    '// Generated by bench/lib/peer.ts',
    'const bench = { processed: 0 };',
    `require('node:http').createServer((req, res) => res.end(String(bench.processed))).listen(${o.countPort}, '127.0.0.1');`,
    `module.exports = ${JSON.stringify(settings, null, 2)};`,
    '// The device → model table the function node reads (global.get(\'models\')), and the counter.',
    `module.exports.functionGlobalContext = { models: ${JSON.stringify(o.models)}, bench };`,
    '',
  ].join('\n');
}

/** reading type (telemetry) → its measurement, the device kind and the fields stored as tags: from protocol/kinds. */
function telemetryTypes(): Record<string, { measurement: string; kind: string; tags: string[] }> {
  const out: Record<string, { measurement: string; kind: string; tags: string[] }> = {};
  for (const k of KINDS) {
    for (const r of k.readings) {
      if (r.channel !== 'telemetry') continue;
      if (out[r.type]) throw new Error(`reading type "${r.type}" is sent by two kinds: the peer's flow maps types to measurements`);
      out[r.type] = { measurement: r.measurement, kind: k.kind, tags: [...(r.tags ?? [])] };
    }
  }
  return out;
}

/**
 * The function node: one telemetry reading (the gateway's payload, parsed by `mqtt in`) into
 * the point the gateway writes: the same measurement, tags device_id, kind, model and the
 * reading's tag fields (washer `program`), its fields and `seq`, at the reading's `ts`.
 * Differences: numbers are written as floats (node-influx without a schema) and the time is
 * the millisecond, not the gateway's ms + seq in the sub-millisecond digits; nothing is
 * validated. The one line that is the bench's, not a user's: `bench.processed++`.
 */
function functionCode(): string {
  return `const TYPES = ${JSON.stringify(telemetryTypes())};
const r = msg.payload;
const t = r && TYPES[r.type];
if (!t) return null;
const deviceId = msg.topic.split('/')[1];
const tags = { device_id: deviceId, kind: t.kind };
const model = global.get('models')[deviceId];
if (model) tags.model = model;
const fields = {};
for (const k in r) {
  if (k === 'type' || k === 'ts') continue;
  if (t.tags.includes(k)) tags[k] = String(r[k]);
  else fields[k] = r[k];
}
msg.payload = { measurement: t.measurement, tags, fields, timestamp: new Date(r.ts) };
global.get('bench').processed++;
return msg;
`;
}

/** The flow: mqtt in → function → join (batches) → influxdb batch, as node-red-contrib-influxdb's docs show. */
function flow(o: { mqttPort: number; influx: URL; database: string; qos: 0 | 1 }): unknown[] {
  return [
    { id: 'tab', type: 'tab', label: 'telemetry → InfluxDB' },
    {
      id: 'broker', type: 'mqtt-broker', name: 'mosquitto', broker: '127.0.0.1', port: String(o.mqttPort), clientid: 'bench-node-red',
      autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true, autoUnsubscribe: true,
      birthTopic: '', closeTopic: '', willTopic: '',
    },
    {
      id: 'in', type: 'mqtt in', z: 'tab', name: 'telemetry', topic: 'devices/+/telemetry', qos: String(o.qos), datatype: 'json',
      broker: 'broker', nl: false, rap: true, rh: 0, inputs: 0, wires: [['point']],
    },
    { id: 'point', type: 'function', z: 'tab', name: 'reading → point', func: functionCode(), outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['batch']] },
    {
      id: 'batch', type: 'join', z: 'tab', name: `${PEER_BATCH.count} points or ${PEER_BATCH.timeoutS * 1000} ms`, mode: 'custom', build: 'array',
      property: 'payload', propertyType: 'msg', key: 'topic', joiner: '\\n', joinerType: 'str', accumulate: false,
      timeout: String(PEER_BATCH.timeoutS), count: String(PEER_BATCH.count), reduceRight: false, wires: [['write']],
    },
    { id: 'write', type: 'influxdb batch', z: 'tab', name: 'InfluxDB', influxdb: 'influx', precision: '', retentionPolicy: '', wires: [] },
    {
      id: 'influx', type: 'influxdb', hostname: o.influx.hostname, port: o.influx.port, protocol: 'http', database: o.database,
      name: 'bench', usetls: false, tls: '', influxdbVersion: '1.x',
    },
  ];
}

/** A child whose log lines are watched: warnings kept (up to 50), and a wait for a line. */
function watchLog(child: ChildProcess, name: string, isWarning: (line: string) => boolean) {
  const warnings: string[] = [];
  let tail = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  const onLine = (line: string) => {
    tail = `${tail}\n${line}`.slice(-4_000);
    if (isWarning(line) && warnings.length < 50) warnings.push(`${name}: ${line.slice(0, 300)}`);
    for (const w of waiters.splice(0)) {
      if (w.re.test(line)) w.resolve();
      else waiters.push(w);
    }
  };
  for (const s of [child.stdout, child.stderr]) if (s) createInterface({ input: s }).on('line', onLine);
  return {
    warnings,
    tail: () => tail,
    waitFor: (re: RegExp) => new Promise<void>((resolve) => waiters.push({ re, resolve })),
  };
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
}

async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(timer);
}

async function influxql(influxUrl: string, database: string, q: string): Promise<Array<{ values?: unknown[][] }>> {
  const res = await fetch(`${influxUrl}/query?${new URLSearchParams({ db: database, epoch: 'ms' })}`, { method: 'POST', body: new URLSearchParams({ q }), signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { results?: Array<{ series?: Array<{ values?: unknown[][] }>; error?: string }>; error?: string };
  const err = body.error ?? body.results?.[0]?.error;
  if (!res.ok || err) throw new Error(`InfluxDB: ${q}: ${err ?? `HTTP ${res.status}`}`);
  return body.results?.[0]?.series ?? [];
}

/**
 * Starts the peer pipeline: Mosquitto on a free loopback port, and Node-RED with the flow
 * mqtt in (devices/+/telemetry, at `qos`) → function (the gateway's points) → join (batches
 * of PEER_BATCH) → influxdb batch (the database, created here). Resolves once a reading
 * published to Mosquitto has reached InfluxDB (that probe's point is then deleted).
 */
export async function startPeer(o: PeerOptions): Promise<Peer> {
  await ensurePeerModules(o.log);
  const influx = new URL(o.influxUrl);
  await influxql(o.influxUrl, o.database, `CREATE DATABASE "${o.database}"`);

  const mqttPort = await freePort();
  const confFile = join(o.workDir, 'mosquitto.conf');
  await writeFile(confFile, mosquittoConf(mqttPort));
  const mosquitto = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const mlog = watchLog(mosquitto, 'mosquitto', (l) => /\b(Warning|Error)\b|dropped/i.test(l) && !/should not be run as root/.test(l));
  let nodeRed: ChildProcess | undefined;
  const stop = async () => {
    if (nodeRed) await end(nodeRed);
    await end(mosquitto);
  };
  try {
    await Promise.race([
      mlog.waitFor(/running$/),
      new Promise((_, reject) => mosquitto.once('error', reject)),
      exited(mosquitto).then(() => { throw new Error(`mosquitto exited before it was running:${mlog.tail()}`); }),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`mosquitto not running within 10 s:${mlog.tail()}`)), 10_000).unref()),
    ]);

    const userDir = join(o.workDir, 'node-red');
    const flowFile = join(o.workDir, 'flows.json');
    const settingsFile = join(o.workDir, 'settings.js');
    const port = await freePort();
    const countPort = await freePort();
    await writeFile(flowFile, JSON.stringify(flow({ mqttPort, influx, database: o.database, qos: o.qos ?? 1 }), null, 2));
    await writeFile(settingsFile, nodeRedSettings({ userDir, flowFile, port, countPort, models: o.models ?? {} }));
    nodeRed = spawn(process.execPath, [NODE_RED, '--userDir', userDir, '--port', String(port), '--settings', settingsFile, flowFile], {
      cwd: o.workDir, stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Its start-up warnings about the settings chosen here are not findings.
    const nlog = watchLog(nodeRed, 'node-red', (l) => /\[(warn|error)\]/.test(l) && !/Projects disabled|unencrypted credentials/.test(l));
    o.log(`peer: mosquitto (pid ${mosquitto.pid}) on ${mqttPort}, node-red (pid ${nodeRed.pid}) starting`);
    await Promise.race([
      ready(o, mqttPort),
      exited(nodeRed).then(() => { throw new Error(`node-red exited before it was ready:${nlog.tail()}`); }),
    ]).catch((err: Error) => {
      throw new Error(`${err.message}\nnode-red:${nlog.tail()}\nmosquitto:${mlog.tail()}`);
    });
    o.log('peer: ready (a reading published to mosquitto reached InfluxDB through node-red)');
    return {
      url: `mqtt://127.0.0.1:${mqttPort}`,
      pids: { mosquitto: mosquitto.pid!, nodeRed: nodeRed.pid! },
      async processed() {
        const res = await fetch(`http://127.0.0.1:${countPort}/`, { signal: AbortSignal.timeout(10_000) });
        return Number(await res.text());
      },
      warnings: () => [...mlog.warnings.splice(0), ...nlog.warnings.splice(0)],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Publishes a washer reading as READY_DEVICE every 500 ms until InfluxDB holds it (Node-RED is
 * then connected, subscribed and writing), waits out the batch timeout, and deletes the probe's
 * points so that they are not counted with the load's.
 */
async function ready(o: PeerOptions, mqttPort: number, timeoutMs = 60_000): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'bench-peer-ready', protocolVersion: 4, reconnectPeriod: 0 });
  const count = async () => {
    const series = await influxql(o.influxUrl, o.database, `SELECT count("seq") FROM "washer_cycle" WHERE "device_id" = '${READY_DEVICE}'`);
    return Number(series[0]?.values?.[0]?.[1] ?? 0);
  };
  const deadline = performance.now() + timeoutMs;
  let seq = 0;
  try {
    for (;;) {
      seq++;
      await client.publishAsync(`devices/${READY_DEVICE}/telemetry`, JSON.stringify({
        type: 'cycle', ts: Date.now(), seq, program: 'eco', load_kg: 1, duration_s: 60, water_l: 1, energy_kwh: 0.1, temp_c: 30, spin_rpm: 800,
      }), { qos: 1 });
      await new Promise((r) => setTimeout(r, 500));
      if ((await count()) > 0) break;
      if (performance.now() > deadline) throw new Error(`the peer did not write a reading to InfluxDB within ${timeoutMs / 1000} s`);
    }
  } finally {
    await client.endAsync();
  }
  // Probes still in the join node's batch land within its timeout; then all are deleted.
  await new Promise((r) => setTimeout(r, PEER_BATCH.timeoutS * 1000 + 1_000));
  await influxql(o.influxUrl, o.database, `DROP SERIES FROM "washer_cycle" WHERE "device_id" = '${READY_DEVICE}'`);
  if ((await count()) !== 0) throw new Error('the peer\'s readiness probe could not be deleted from InfluxDB');
}
