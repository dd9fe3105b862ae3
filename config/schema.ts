import { z } from 'zod';
import { deviceIdSchema } from '../protocol/ids.ts';

/**
 * The one schema of every setting: its type, default and meaning. Environment overrides are
 * derived from it: `UG_` + the key path in upper snake case (mqtt.tlsPort → UG_MQTT_TLS_PORT).
 * docs/configuration.md is generated from it (`usage-gateway config --docs`).
 *
 * Settings that hold a credential carry `.meta({ secret: true })`, or `.meta({ secret: 'url' })`
 * for a URL that may carry one (in its user info, path or query): `usage-gateway config` and
 * the error messages of a refused config never show them (config/load.ts, secretSettings()).
 */
const port = z.number().int().min(0).max(65_535);
const ms = z.number().int().min(0);

/** One serial port of the serial bridge (gateway/serial/README.md). */
const serialPort = z.object({
  path: z.string().min(1).describe('Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/….'),
  baudRate: z.number().int().min(50).max(4_000_000).default(115_200).describe('Line speed; must match the firmware.'),
  deviceId: deviceIdSchema.describe('Registered device the readings are published as.'),
  secret: z.string().min(1).optional().describe('Device secret (or secretFile).').meta({ secret: true }),
  secretFile: z.string().min(1).optional().describe('File holding the device secret (first line).'),
  kind: z.string().optional().describe('Device kind; narrows number coercion of key=value lines when two kinds share a reading type.'),
  format: z.enum(['json', 'kv']).default('json').describe('Line format: one JSON reading per line, or key=value pairs.'),
  fieldMap: z.record(z.string(), z.string()).default({}).describe('Renames keys of a line before validation, e.g. {t: temp_c}.'),
  writeBack: z.boolean().default(false).describe('Write messages from devices/{id}/commands/# to the port, one line each.'),
  rtscts: z.boolean().default(false).describe('Hardware flow control (RTS/CTS), so that pausing the port holds the device back.'),
  reconnect: z.object({
    minMs: ms.min(10).default(500).describe('First reopen delay after the port is lost; doubles up to maxMs, with jitter.'),
    maxMs: ms.min(10).default(30_000).describe('Longest delay between reopen attempts.'),
  }).strict().prefault({}),
  limits: z.object({
    maxLineBytes: z.number().int().min(64).max(256 * 1024).default(8_192).describe('Longest line; longer ones are dropped up to their end and reported.'),
    queueLines: z.number().int().min(1).max(100_000).default(1_000).describe('Lines waiting to be published; at this depth the port is paused, beyond it lines are refused.'),
    maxInFlight: z.number().int().min(1).max(1_000).default(32).describe('QoS 1 publishes awaiting PUBACK at once.'),
    partialLineTimeoutMs: ms.default(2_000).describe('Bytes without a line end for this long are reported as a cut-off line; 0: wait for ever (typing by hand).'),
  }).strict().prefault({}),
}).strict().superRefine((v, ctx) => {
  if (!v.secret === !v.secretFile) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'give exactly one of secret and secretFile' });
});

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('data').describe('Folder for the registry, spool and dead-letter store unless set one by one.'),
    log: z.object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level (pino, JSON on stdout).'),
    }).strict().prefault({}),
    gateway: z.object({
      workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)], { error: 'expected "auto" or a whole number of workers from 1 to 256' }).default(1).describe('Gateway processes on the same listeners (`auto`: one per CPU core). More than one shares sessions, retained messages and routing through Redis (cluster.redisUrl); each has its own spool folder (<spool.dir>/worker-<n>) and InfluxDB writer.'),
      heapGrowthPercent: z.number().int().min(0).max(1_000).default(50).describe("How far each gateway process's JavaScript heap may grow past what a full garbage collection left live before the next one (V8's heap growing factor). Lower keeps memory down under a burst, at some CPU; 0 leaves it to V8, which lets a busy heap grow to 4× on a machine with 2 GiB or more."),
    }).strict().prefault({}),
    mqtt: z.object({
      host: z.string().default('0.0.0.0').describe('Address the MQTT listeners bind to.'),
      port: port.default(1883).describe('MQTT over TCP; 0 picks a free port.'),
      tlsPort: port.optional().describe('MQTT over TLS (8883 by convention); off unless set, needs tlsCert and tlsKey.'),
      tlsCert: z.string().optional().describe('PEM certificate file for the TLS listener.'),
      tlsKey: z.string().optional().describe('PEM private key file for the TLS listener.'),
      wsPort: port.optional().describe('MQTT over WebSocket (path /mqtt); off unless set.'),
      listenBacklog: z.number().int().min(1).max(65_535).default(4_096).describe("Connections the kernel keeps waiting to be accepted, per listener. When a reconnect storm overflows it, the kernel drops the devices' SYNs and they retry after 1, 3, 7, 15 s; Linux caps it at net.core.somaxconn."),
      maxPayloadBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024).describe('Largest payload accepted; bigger packets are refused before they are buffered.'),
      maxConnectionsPerIp: z.number().int().min(1).optional().describe('Connections accepted from one remote address (an IPv6 /64 counts as one) at a time; default: a quarter of maxConnections.'),
      maxConnections: z.number().int().min(1).optional().describe("Connections accepted in all; default: the process's open-file limit (soft RLIMIT_NOFILE, read at start) less a tenth of it (at least 64, at most 1,024) kept for files, InfluxDB and HTTP."),
      connectTimeoutMs: ms.min(100).default(10_000).describe('Time a new connection has to send CONNECT and be let in; a connection that has not logged in by then is closed.'),
      keepaliveLimitS: z.number().int().min(0).max(65_535).default(3_600).describe('Largest keep-alive a client may ask for (0: no limit).'),
      drainTimeoutMs: ms.default(30_000).describe('A client whose socket does not drain within this time is disconnected.'),
      maxFiltersPerSubscribe: z.number().int().min(1).max(10_000).default(32).describe('Topic filters one SUBSCRIBE may carry; a SUBSCRIBE with more closes the connection before any of it is looked at. At least maxSubscriptionsPerClient, since clients resubscribe to everything in one packet after a reconnect.'),
      maxSubscriptionsPerClient: z.number().int().min(1).max(10_000).default(16).describe('Subscriptions one client may hold at a time; filters beyond it get SUBACK 0x80 (a device needs two: its rejected and commands/# topics).'),
      logEveryMs: ms.default(60_000).describe('Refused connections, failed logins and refused subscriptions are logged at most once per remote address per this interval (always counted in the metrics).'),
    }).strict().superRefine((v, ctx) => {
      if (v.maxFiltersPerSubscribe < v.maxSubscriptionsPerClient) {
        ctx.addIssue({ code: 'custom', path: ['maxFiltersPerSubscribe'], message: `must be at least maxSubscriptionsPerClient (${v.maxSubscriptionsPerClient}): a client resubscribes to all it holds in one SUBSCRIBE after a reconnect` });
      }
      if (v.tlsPort === undefined) return;
      for (const key of ['tlsCert', 'tlsKey'] as const) {
        if (!v[key]) ctx.addIssue({ code: 'custom', path: [key], message: `the TLS listener (tlsPort) needs ${key === 'tlsCert' ? 'a PEM certificate file' : 'a PEM private key file'}` });
      }
    }, { when: () => true }).prefault({}), // checked even when other mqtt settings are wrong: all problems at once
    auth: z.object({
      anonymous: z.boolean().default(false).describe('Accept connections without credentials (for MQTT interoperability suites): such clients may use any topic outside devices/, triggers/ and $-topics, and receive nothing from devices. Never on in production.'),
      loginFailuresAllowed: z.number().int().min(1).default(5).describe('Failed MQTT logins from one remote address (an IPv6 /64 counts as one) after which the address is throttled.'),
      loginBackoffMinMs: ms.min(10).default(1_000).describe('First throttle period of an address; doubles with each further failed login up to loginBackoffMaxMs. While throttled, every login from the address is refused at once with CONNACK 3 (server unavailable), without checking its secret.'),
      loginBackoffMaxMs: ms.min(10).default(60_000).describe("Longest throttle period; an address's failed logins are forgotten after twice this time without one."),
    }).strict().superRefine((v, ctx) => {
      if (v.loginBackoffMaxMs < v.loginBackoffMinMs) ctx.addIssue({ code: 'custom', path: ['loginBackoffMaxMs'], message: `must be at least loginBackoffMinMs (${v.loginBackoffMinMs})` });
    }).prefault({}),
    http: z.object({
      host: z.string().default('0.0.0.0').describe('Address the HTTP API binds to.'),
      port: port.default(8080).describe('HTTP API, /metrics, /healthz and /readyz; 0 picks a free port.'),
    }).strict().prefault({}),
    influx: z.object({
      version: z.number().int().min(1).max(3).default(1).describe('InfluxDB major version: 1 (database + retention policies), 2 (org + bucket, token; InfluxQL through a DBRP mapping) or 3 (database, token).'),
      url: z.url().default('http://127.0.0.1:8086').describe('InfluxDB base URL.'),
      database: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, "_" or "-"').default('usage').describe('Database the readings are written to; created if missing.'),
      username: z.string().optional().describe('InfluxDB user, if authentication is on.'),
      password: z.string().optional().describe('InfluxDB password, if authentication is on.').meta({ secret: true }),
      token: z.string().optional().describe('API token (InfluxDB 2.x and 3.x).').meta({ secret: true }),
      org: z.string().optional().describe('Organization name (InfluxDB 2.x).'),
      bucket: z.string().optional().describe('Bucket the readings are written to (InfluxDB 2.x); default: the database name. On 3.x the database is the bucket.'),
      rollups: z.boolean().default(true).describe('Keep hourly and daily roll-ups (continuous queries on 1.x) that the boards and analytics read for long ranges.'),
      rollupRetentionDays: z.number().int().min(1).max(36_500).default(1_830).describe('Retention of the roll-ups (retention policy `rollup`).'),
      retentionDays: z.number().int().min(1).max(36_500).default(400).describe('Raw data retention; readings older than this are refused.'),
      requestTimeoutMs: ms.min(100).default(10_000).describe('Timeout of one write or query.'),
    }).strict().superRefine((v, ctx) => {
      if (v.version >= 2 && !v.token) ctx.addIssue({ code: 'custom', path: ['token'], message: `InfluxDB ${v.version}.x needs an API token` });
      if (v.version === 2 && !v.org) ctx.addIssue({ code: 'custom', path: ['org'], message: 'InfluxDB 2.x needs the organization name' });
    }).prefault({}),
    stats: z.object({
      intervalS: z.number().int().min(0).max(3_600).default(10).describe('The gateway writes its own figures (measurement `gateway_stats`) this often; 0: never.'),
      instance: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected letters, digits, ".", "_" or "-"').optional().describe('Tag that tells gateway instances apart in `gateway_stats`; default: the host name.'),
    }).strict().prefault({}),
    registry: z.object({
      path: z.string().optional().describe('Device registry file (JSON); default <dataDir>/registry.json.'),
    }).strict().prefault({}),
    models: z.object({
      path: z.string().optional().describe('Model catalogue (YAML or JSON); default: the catalogue shipped in config/models.yaml.'),
    }).strict().prefault({}),
    spool: z.object({
      dir: z.string().optional().describe('Durable spool folder; default <dataDir>/spool.'),
      maxBytes: z.number().int().min(1024 * 1024).default(1024 * 1024 * 1024).describe('Spool size at which the gateway stops acknowledging (backpressure).'),
      segmentBytes: z.number().int().min(64 * 1024).default(64 * 1024 * 1024).describe('Size at which a spool segment file is closed and a new one begun.'),
      fsync: z.boolean().default(true).describe('fsync before acknowledging QoS 1. Off only for benchmarks: a crash can then lose acknowledged readings.'),
    }).strict().prefault({}),
    writer: z.object({
      batchMaxLines: z.number().int().min(1).max(50_000).default(5_000).describe('Most points in one write to InfluxDB.'),
      batchMaxBytes: z.number().int().min(1024).default(4 * 1024 * 1024).describe('Most bytes in one write to InfluxDB.'),
      retryMinMs: ms.min(10).default(200).describe('First retry delay after a failed write; doubles up to retryMaxMs, with jitter.'),
      retryMaxMs: ms.min(100).default(30_000).describe('Longest delay between retries, a Retry-After from InfluxDB included.'),
      thread: z.boolean().default(true).describe('Write to InfluxDB from a thread of its own, so that storing keeps pace while ingest keeps the main event loop busy. Off: the writer shares the event loop with ingest.'),
      inFlight: z.number().int().min(1).max(16).default(2).describe('Writes to InfluxDB at once; the spool cursor still moves in order, past a batch only once it and every batch before it are written.'),
      lingerMs: ms.max(10_000).default(100).describe('How long a batch that holds everything spooled so far waits for more before it is written. At low rates a write then carries what arrived in that time instead of a reading or two (each write also moves the spool cursor, a file write); readings become queryable up to this much later. 0: written at once.'),
    }).strict().prefault({}),
    deadletter: z.object({
      dir: z.string().optional().describe('Dead-letter store folder; default <dataDir>/deadletter.'),
      maxBytes: z.number().int().min(1024 * 1024).default(512 * 1024 * 1024).describe('Most bytes the dead-letter store holds on disk; a refused message that would go past it is no longer kept (still counted and described to its device).'),
    }).strict().prefault({}),
    ingest: z.object({
      maxFutureSkewS: z.number().int().min(0).max(86_400).default(300).describe('How far ahead of the gateway clock a reading ts may be.'),
      logEveryMs: ms.default(60_000).describe('Refusals are logged at most once per device per this interval (always counted).'),
      maxInFlight: z.number().int().min(1).max(100_000).default(256).describe('Messages decoded and handed to the spool at once; the others wait in arrival order. A QoS 1 message waiting for room in a full spool keeps its place.'),
      pauseAtQueued: z.number().int().min(1).max(10_000_000).default(300).describe('Messages waiting for ingest at which the gateway stops reading from connections (TCP backpressure holds the devices back) until half of them are taken.'),
      pauseAtSpooling: z.number().int().min(1).max(10_000_000).default(1_000).describe('Messages handed to the spool and not yet on disk (a QoS 1 PUBACK waits for the fsync) at which the gateway stops reading from connections until half of them are stored.'),
      maxQueued: z.number().int().min(1).max(10_000_000).default(50_000).describe('Messages waiting for ingest at which a QoS 0 message is refused (GW_ERR_INGEST_BUSY, counted) instead of queued; QoS 1 ones wait, unacknowledged. At least pauseAtQueued.'),
    }).strict().superRefine((v, ctx) => {
      if (v.maxQueued < v.pauseAtQueued) ctx.addIssue({ code: 'custom', path: ['maxQueued'], message: `must be at least pauseAtQueued (${v.pauseAtQueued}): reading stops before QoS 0 messages are refused` });
    }).prefault({}),
    cluster: z.object({
      redisUrl: z.url({ protocol: /^rediss?$/, hostname: /^.+$/, error: 'expected redis://[user:password@]host[:port][/db], or rediss://… for TLS' }).optional().describe('Redis shared by the gateway instances of a cluster: MQTT sessions, retained messages and routing between instances go through it (redis://[user:password@]host[:port][/db], rediss:// for TLS). Off unless set: one instance, all in memory.').meta({ secret: 'url' }),
      prefix: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected letters, digits, ".", "_" or "-"').default('usage-gateway').describe('Namespace of the cluster in Redis (keys `<prefix>:…`, channels `<prefix>/…`); clusters that share one Redis need different prefixes.'),
      offlineTtlS: z.number().int().min(0).max(365 * 86_400).default(7 * 86_400).describe('QoS 1 messages queued for a persistent session that stays away are dropped from Redis after this many seconds; 0: kept until delivered.'),
    }).strict().prefault({}),
    shutdown: z.object({
      deadlineMs: ms.default(10_000).describe('On SIGTERM, time to flush the spool to InfluxDB before leaving the rest for the next start.'),
    }).strict().prefault({}),
    serial: z.object({
      ports: z.array(serialPort).default([]).describe('Serial ports bridged into the gateway, each as its device (`usage-gateway serial`).'),
      mqttUrl: z.string().optional().describe('Broker `usage-gateway serial` publishes to; default mqtt://127.0.0.1:<mqtt.port>.'),
      runInGateway: z.boolean().default(false).describe('`usage-gateway gateway` also runs the configured ports, connected to its broker in memory.'),
    }).strict().prefault({}),
    analytics: z.object({
      rulesPath: z.string().optional().describe('Rule catalogue (YAML); default: the catalogue shipped in config/rules.yaml.'),
      stateDir: z.string().optional().describe('Durable analytics state (triggers, feedback, cooldowns, outbox; an LMDB environment); default <dataDir>/analytics.'),
      schedule: z.string().min(1).default('15 2 * * *').describe('When `usage-gateway analytics` runs the rules (cron, 5 or 6 fields); a rule may set its own.'),
      timezone: z.string().default('UTC').describe('Time zone of the schedule.'),
      pageSize: z.number().int().min(1).max(5_000).default(500).describe('Devices per InfluxDB query page; bounds the memory of a run whatever the fleet size.'),
      concurrency: z.number().int().min(1).max(32).default(4).describe('Pages of devices queried at once during a run (memory: this many pages); 1: one query at a time.'),
      features: z.enum(['layer', 'raw']).default('layer').describe('Where runs read daily features: `layer`, the daily feature layer in InfluxDB (built once per complete day, late readings recomputed; see `analytics features`), or `raw`, aggregated from raw readings on every run.'),
      partition: z.object({
        count: z.number().int().min(1).max(1_024).default(1).describe('Partitions the fleet is split into, by owner (every device of an owner in the same one); each is run by its own analytics instance.'),
        index: z.number().int().min(0).max(1_023).default(0).describe('The partition this instance runs: 0 … count - 1.'),
      }).strict().prefault({}).refine((p) => p.index < p.count, { message: 'must be less than analytics.partition.count (partitions are numbered from 0)', path: ['index'] }),
      policy: z.object({
        frequencyCapMax: z.number().int().min(0).default(1).describe('Marketing triggers (upsell, retention) one owner may get within frequencyCapDays, across all rules; 0: no cap.'),
        frequencyCapDays: z.number().int().min(1).max(365).default(7).describe('Period of the frequency cap.'),
        declineSuppressionDays: z.number().int().min(0).max(3_650).default(90).describe('A declined offer is not offered again (same rule, device and owner) for this many days.'),
        serviceOpenDays: z.number().int().min(1).max(365).default(30).describe('A service trigger without a `converted` or `declined` outcome counts as open (and blocks upsell on its device) for this many days.'),
      }).strict().prefault({}),
      delivery: z.object({
        webhookUrl: z.url().optional().describe('Webhook that receives each trigger (POST JSON, X-Signature HMAC-SHA256); off unless set.').meta({ secret: 'url' }),
        webhookSecret: z.string().min(16).optional().describe('Shared secret of the webhook signature (at least 16 characters); required with webhookUrl.').meta({ secret: true }),
        webhookTimeoutMs: ms.min(100).default(10_000).describe('Time one webhook request may take before it counts as failed.'),
        webhookMarketingUrl: z.url().optional().describe('Webhook of the marketing purpose (upsell, retention triggers); instead of webhookUrl for them. Off unless set.').meta({ secret: 'url' }),
        webhookMarketingSecret: z.string().min(16).optional().describe('Shared secret of the marketing webhook signature; required with webhookMarketingUrl.').meta({ secret: true }),
        webhookServiceUrl: z.url().optional().describe('Webhook of the service purpose (service triggers); instead of webhookUrl for them. Off unless set.').meta({ secret: 'url' }),
        webhookServiceSecret: z.string().min(16).optional().describe('Shared secret of the service webhook signature; required with webhookServiceUrl.').meta({ secret: true }),
        sensitiveToAutomated: z.boolean().default(false).describe('Deliver sensitive triggers (retention: a usage collapse can mean bereavement or job loss) to the webhooks and MQTT too; by default they go to people only, through the inbox and the API (and the boards, without owner).'),
        mqtt: z.boolean().default(true).describe('Publish each trigger on MQTT triggers/{category}/{ruleId} (QoS 1) through the gateway broker.'),
        mqttUrl: z.string().optional().describe('Broker URL for trigger publishing; default mqtt://127.0.0.1:<mqtt.port>.'),
        mqttUsername: z.string().optional().describe('Analytics identity in the registry (`usage-gateway analytics identity`); required when mqtt is on.'),
        mqttPassword: z.string().optional().describe('Secret of the analytics identity.').meta({ secret: true }),
        influx: z.boolean().default(true).describe('Write each trigger (measurement `trigger`) and each feedback (`trigger_feedback`) to InfluxDB.'),
        retryMinMs: ms.min(10).default(1_000).describe('First retry delay of a failed delivery; doubles up to retryMaxMs, with jitter.'),
        retryMaxMs: ms.min(100).default(300_000).describe('Longest delay between delivery retries.'),
        deadlineMs: ms.min(1_000).default(86_400_000).describe('A delivery still failing this long after its first attempt is dead-lettered.'),
        pollMs: ms.min(10).default(1_000).describe('How often the delivery loop looks for due deliveries.'),
      }).strict().prefault({}),
      api: z.object({
        host: z.string().default('0.0.0.0').describe('Address the analytics API and trigger inbox bind to.'),
        port: port.default(8090).describe('Analytics API (/api, /inbox, /docs, /metrics); 0 picks a free port.'),
        token: z.string().min(16).optional().describe('Bearer token of the analytics API (at least 16 characters); the API refuses every call while unset.').meta({ secret: true }),
      }).strict().prefault({}),
    }).strict().superRefine((v, ctx) => {
      if (v.delivery.webhookUrl && !v.delivery.webhookSecret) ctx.addIssue({ code: 'custom', path: ['delivery', 'webhookSecret'], message: 'a webhook needs a shared secret to sign its bodies' });
      if (v.delivery.webhookMarketingUrl && !v.delivery.webhookMarketingSecret) ctx.addIssue({ code: 'custom', path: ['delivery', 'webhookMarketingSecret'], message: 'a webhook needs a shared secret to sign its bodies' });
      if (v.delivery.webhookServiceUrl && !v.delivery.webhookServiceSecret) ctx.addIssue({ code: 'custom', path: ['delivery', 'webhookServiceSecret'], message: 'a webhook needs a shared secret to sign its bodies' });
    }).prefault({}),
    insights: z.object({
      minDevices: z.number().int().min(2).max(100_000).default(20).describe('The product-insight report (`usage-gateway insights`, GET /api/insights) shows no figure, bar or finding built from fewer devices than this; it says "too few devices" instead.'),
    }).strict().prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
