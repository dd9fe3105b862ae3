import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../../config/load.ts';
import { UsageGatewayError } from '../../protocol/errors.ts';
import { consumerCategories } from '../../protocol/registry.ts';
import { topics } from '../../protocol/topics.ts';
import type { Ingest, RejectionNotice } from '../ingest/index.ts';
import type { Metrics } from '../metrics/index.ts';
import { hashSecret, type Registry } from '../../core/registry/index.ts';
import { authorizeForward, authorizePublish, authorizeSubscribe, type Identity } from './acl.ts';
import { addressKey } from './address.ts';
import { ClusterLink } from './cluster.ts';
import { connectionLimits, DescriptorBudget, openFileLimit, type ConnectionLimits } from './file-limit.ts';
import { FrameGuard } from './frame-guard.ts';
import { LogGate, printable } from './log-gate.ts';
import { LoginThrottle } from './login-throttle.ts';
import { SubscriptionLedger, type SubscriptionStore } from './subscriptions.ts';

export interface BrokerOptions {
  config: Readonly<ResolvedConfig>;
  registry: Registry;
  ingest: Ingest;
  metrics: Metrics;
  log: Logger;
}

export interface ListenAddresses {
  mqtt: number;
  mqtts?: number;
  ws?: number;
}

/** The TLS listener; unreadable or invalid PEM files are a config error, not a stack trace. */
function tlsServer(certFile: string, keyFile: string, onSocket: (socket: Socket) => void): NetServer {
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageGatewayError('GW_ERR_CONFIG', `mqtt.${key}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read('tlsCert', certFile);
  const key = read('tlsKey', keyFile);
  try {
    return createTlsServer({ cert, key }, onSocket);
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_CONFIG', `mqtt.tlsCert / mqtt.tlsKey: not a usable PEM certificate and key (${(err as Error).message})`);
  }
}

/** Header and topic room on top of the payload limit when bounding whole packets. */
const PACKET_OVERHEAD = 4 * 1024;

function authError(message: string, returnCode: number): Error {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * The embedded Aedes broker with the gateway's hooks: authentication against the registry,
 * the topic rules of acl.ts, and ingest inside authorizePublish — Aedes sends PUBACK as soon
 * as that hook calls back, so the callback waits until the message is in the spool.
 */
export class Broker {
  readonly aedes: Aedes;
  private readonly config: Readonly<ResolvedConfig>;
  private readonly registry: Registry;
  private readonly ingest: Ingest;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly identities = new WeakMap<Client, Identity>();
  private readonly emptyIdPersistent = new WeakSet<Client>();
  /** The secret hash each client authenticated against, to tell when it was rotated. */
  /**
   * The stored hash a client logged in against, and the fast form of its secret: an entry of an
   * older registry is rehashed after the login, which is not a rotation and closes nothing.
   */
  private readonly authenticatedWith = new WeakMap<Client, [string, string]>();
  private readonly perIp = new Map<string, number>();
  private connections = 0;
  private servers: Array<NetServer | HttpServer> = [];
  private wss?: WebSocketServer;
  private accepting = true;
  /** Cluster mode: routing and sessions through Redis, shared with the other instances. */
  private readonly cluster?: ClusterLink;
  private readonly subscriptions: SubscriptionLedger;
  private readonly logins: LoginThrottle;
  /** Connection caps, as configured or derived from the open-file limit at listen(). */
  private limits?: ConnectionLimits;
  private budget?: DescriptorBudget;
  /** Refusals that a client can repeat at will are logged once per address per interval. */
  private readonly logGate: LogGate;
  /**
   * Readings (a device's telemetry and events) once ingest has them: no client may receive
   * them (acl.ts: no filter reaches another device's topics, and a device may not subscribe to
   * its own readings), so they are not routed through the broker's pub/sub, nor through Redis
   * in cluster mode.
   */
  private readonly readings = new WeakSet<object>();

  constructor(opts: BrokerOptions) {
    ({ config: this.config, registry: this.registry, ingest: this.ingest, metrics: this.metrics, log: this.log } = opts);
    const { mqtt, cluster } = opts.config;
    if (cluster.redisUrl) this.cluster = new ClusterLink({ ...cluster, redisUrl: cluster.redisUrl, log: opts.log });
    this.subscriptions = new SubscriptionLedger(mqtt.maxSubscriptionsPerClient);
    const { auth } = opts.config;
    this.logins = new LoginThrottle({ failuresAllowed: auth.loginFailuresAllowed, minMs: auth.loginBackoffMinMs, maxMs: auth.loginBackoffMaxMs });
    this.logGate = new LogGate(mqtt.logEveryMs);
    // No fixed broker id: Redis keys stored packets by broker id and a counter that restarts at
    // 0, so a restarted instance must not reuse its id.
    this.aedes = new Aedes({
      mq: this.cluster?.mq,
      persistence: this.cluster?.persistence,
      // The broker's own connect guard (handle()) closes connections that have not logged in by
      // mqtt.connectTimeoutMs; Aedes' timer, which stops at CONNECT, stays as a backstop.
      connectTimeout: mqtt.connectTimeoutMs + 1_000,
      keepaliveLimit: mqtt.keepaliveLimitS,
      drainTimeout: mqtt.drainTimeoutMs,
      maxClientsIdLength: 64,
      heartbeatInterval: 60_000,
    });
    this.installHooks();
  }

  /** Installs the gateway's hooks and listeners on Aedes and the registry, one method each. */
  private installHooks(): void {
    const { aedes } = this;
    aedes.preConnect = this.preConnect;
    aedes.authenticate = this.authenticate;
    aedes.authorizePublish = this.authorizePublish;
    aedes.authorizeSubscribe = this.authorizeSubscribe;
    aedes.authorizeForward = this.authorizeForward;
    aedes.on('unsubscribe', this.unsubscribe);
    aedes.on('clientReady', this.clientReady);
    aedes.on('clientDisconnect', this.clientDisconnect);
    aedes.on('clientError', this.clientError);
    aedes.on('connectionError', this.connectionError);
    // Only a persistence that can fail (Redis) emits this (not in Aedes' typings); unheard, it would end the process.
    (aedes as unknown as NodeJS.EventEmitter).on('error', this.persistenceError);
    this.registry.onChange(this.registryChanged);
    const route = aedes.publish.bind(aedes);
    aedes.publish = ((packet: Parameters<Aedes['publish']>[0], client: Client | ((err?: Error) => void), done?: (err?: Error) => void) => {
      if (typeof client !== 'function' && this.readings.has(packet)) return done?.();
      return (route as (...a: unknown[]) => void)(packet, client, done);
    }) as Aedes['publish'];
  }

  private readonly preConnect: Aedes['preConnect'] = (client, packet, cb) => {
    const { metrics } = this;
    // [MQTT-3.1.3-8] an empty client id with a persistent session is refused with 0x02
    if (!packet.clientId && !packet.clean) this.emptyIdPersistent.add(client);
    // A malformed CONNECT closes the connection [MQTT-3.1.4-1]. These two rules the packet
    // parser (mqtt-packet) does not check: Aedes would store a QoS 3 will, and take a
    // password without a user name for an anonymous login.
    const malformed = (packet.will?.qos ?? 0) > 2 ? 'will QoS 3 [MQTT-3.1.2-14]'
      : packet.password !== undefined && packet.username === undefined ? 'password without user name [MQTT-3.1.2-22]'
        : undefined;
    if (malformed) {
      metrics.connectionsRefused.inc({ reason: 'protocol-error' });
      this.gatedLog(client, 'protocol-error', 'info', { clientId: printable(packet.clientId ?? ''), reason: malformed, code: 'GW_ERR_PROTOCOL' }, 'connection closed: the CONNECT breaks MQTT 3.1.1');
      return cb(new Error(malformed), false); // closes the connection, no CONNACK
    }
    if (!this.accepting) {
      metrics.connectionsRefused.inc({ reason: 'shutting-down' });
      return cb(new Error('the gateway is shutting down'), false); // closes the connection
    }
    cb(null, true);
  };

  // Neither the password nor a username that names no registered identity is ever logged:
  // a device that swaps the two fields would otherwise write its secret to the log.
  private readonly authenticate: Aedes['authenticate'] = (client, username, password, cb) => {
    const { metrics, log, registry } = this;
    const address = addressKey(this.addressOf(client));
    const throttled = this.logins.blockedFor(address);
    if (throttled > 0) {
      // Refused before any secret is checked: a flood of guesses costs a map lookup each.
      metrics.authFailures.inc({ reason: 'throttled' });
      this.gatedLog(client, 'login', 'warn', { throttledForMs: throttled, failures: this.logins.failures(address), code: 'GW_ERR_LOGIN_THROTTLED' }, 'connection refused: too many failed logins from this address');
      return cb(authError('too many failed logins from this address', 3) as never, false);
    }
    const failed = (reason: 'no-credentials' | 'bad-credentials') => {
      metrics.authFailures.inc({ reason });
      const backoff = this.logins.failed(address);
      const known = !!username && registry.get(username) !== undefined;
      this.gatedLog(client, 'login', 'info', {
        ...(known ? { username } : { usernameLength: username?.length ?? 0 }),
        failures: this.logins.failures(address),
        ...(backoff > 0 ? { throttledForMs: backoff } : {}),
        code: 'GW_ERR_AUTH_FAILED',
      }, reason === 'no-credentials' ? 'connection refused: no credentials' : 'connection refused: unknown identity or wrong secret');
    };
    if (this.emptyIdPersistent.has(client)) {
      metrics.authFailures.inc({ reason: 'client-id' });
      return cb(authError('empty client id with a persistent session', 2) as never, false);
    }
    if (!username) {
      if (this.config.auth.anonymous) {
        this.identities.set(client, { role: 'anonymous', id: client.id });
        return cb(null, true);
      }
      failed('no-credentials');
      return cb(authError('username and password are required', 4) as never, false);
    }
    registry.authenticate(username, password ?? Buffer.alloc(0)).then((entry) => {
      if (!entry) {
        failed('bad-credentials');
        return cb(authError('bad user name or password', 4) as never, false);
      }
      const idOk = entry.role === 'device' ? client.id === entry.id : client.id === entry.id || client.id.startsWith(`${entry.id}:`);
      if (!idOk) {
        metrics.authFailures.inc({ reason: 'client-id' });
        this.gatedLog(client, 'login', 'info', { username, code: 'GW_ERR_CLIENT_ID' }, 'connection refused: client id does not match the username');
        return cb(authError('client id must equal the device id', 2) as never, false);
      }
      this.authenticatedWith.set(client, [entry.secretHash, hashSecret(password ?? Buffer.alloc(0))]);
      this.identities.set(client, entry.role === 'device'
        ? { role: 'device', id: entry.id, kind: entry.kind, model: entry.model }
        : entry.role === 'consumer' ? { role: 'consumer', id: entry.id, categories: consumerCategories(entry) } : { role: entry.role, id: entry.id });
      cb(null, true);
    }, (err) => {
      log.error({ err }, 'authentication failed on an internal error');
      cb(authError('server unavailable', 3) as never, false);
    });
  };

  private readonly authorizePublish: Aedes['authorizePublish'] = (client, packet, cb) => {
    const who = client ? this.identities.get(client) : undefined;
    if (!client || !who) return cb(null); // the broker's own publishes (wills of gone clients)
    const decision = authorizePublish(who, packet.topic, packet.retain, packet.payload as Buffer);
    if (!decision.ok) {
      this.metrics.authzRefusals.inc({ action: 'publish', role: who.role });
      this.gatedLog(client, 'publish-refused', 'info', { topic: printable(packet.topic, 256), reason: printable(decision.reason, 512), code: 'GW_ERR_NOT_AUTHORIZED' }, 'publish refused; closing the connection');
      return cb(new Error(decision.reason));
    }
    if (!decision.reading || who.role !== 'device') return cb(null);
    this.readings.add(packet);
    this.ingest
      .handle({ deviceId: who.id, channel: decision.channel, topic: packet.topic, payload: packet.payload as Buffer, qos: packet.qos, messageId: packet.messageId })
      .then(() => cb(null), (err: Error) => {
        // Not kept, so not acknowledged: the device keeps the message and sends it again.
        this.log.error({ err, clientId: client.id }, 'could not keep a message; closing the connection without acknowledging it');
        cb(err);
      });
  };

  // Answers synchronously: the subscription ledger relies on every filter of a packet being
  // decided in the loop in which Aedes authorizes them (subscriptions.ts).
  private readonly authorizeSubscribe: Aedes['authorizeSubscribe'] = (client, sub, cb) => {
    const { metrics } = this;
    const who = this.identities.get(client);
    if (!who || !authorizeSubscribe(who, sub.topic)) {
      metrics.authzRefusals.inc({ action: 'subscribe', role: who?.role ?? 'unknown' });
      this.gatedLog(client, 'subscribe-refused', 'info', { topic: printable(sub.topic, 256), code: 'GW_ERR_NOT_AUTHORIZED' }, 'subscription refused');
      return cb(null, null); // SUBACK 0x80 for this filter; the connection stays
    }
    if (!this.subscriptions.admit(client, sub)) {
      metrics.subscribeLimitRefusals.inc({ limit: 'subscriptions-per-client' });
      this.gatedLog(client, 'subscribe-limit', 'warn', { topic: printable(sub.topic, 256), limit: this.config.mqtt.maxSubscriptionsPerClient, code: 'GW_ERR_SUBSCRIBE_LIMIT' }, 'subscription refused: the client holds as many subscriptions as it may (mqtt.maxSubscriptionsPerClient)');
      return cb(null, null);
    }
    cb(null, sub);
  };

  private readonly authorizeForward: Aedes['authorizeForward'] = (client, packet) => {
    const who = this.identities.get(client);
    return who && authorizeForward(who, packet.topic) ? packet : null;
  };

  private readonly unsubscribe = (topics: string[], client: Client): void => this.subscriptions.release(client, topics);

  private readonly clientReady = (client: Client): void => {
    const who = this.identities.get(client);
    if (!who) return;
    this.metrics.connected.inc({ role: who.role });
    if (who.role === 'device') this.metrics.connectedDevices.inc({ kind: who.kind, model: who.model });
  };

  private readonly clientDisconnect = (client: Client): void => {
    const who = this.identities.get(client);
    if (!who) return;
    this.metrics.connected.dec({ role: who.role });
    if (who.role === 'device') this.metrics.connectedDevices.dec({ kind: who.kind, model: who.model });
  };

  private readonly clientError = (client: Client, err: Error): void => this.log.debug({ clientId: client.id, err: err.message }, 'client error');

  private readonly connectionError = (client: Client | undefined, err: Error): void => this.log.debug({ clientId: client?.id, err: err.message }, 'connection error');

  private readonly persistenceError = (err: Error): void => this.log.error({ err, code: this.cluster ? 'GW_ERR_REDIS_UNAVAILABLE' : undefined }, 'broker persistence error');

  // A device removed from the registry, or whose secret was rotated, is disconnected; so is
  // a consumer whose purposes changed (its subscriptions were granted under the old ones).
  private readonly registryChanged = (): void => {
    const { registry } = this;
    for (const client of Object.values((this.aedes as unknown as { clients: Record<string, Client> }).clients)) {
      const who = this.identities.get(client);
      if (!who || who.role === 'anonymous') continue;
      const entry = registry.get(who.id);
      if (!entry || !this.authenticatedWith.get(client)?.includes(entry.secretHash)) client.close();
      else if (who.role === 'consumer' && entry?.role === 'consumer' && consumerCategories(entry).join() !== who.categories.join()) client.close();
    }
  };

  /** The remote address a client connected from ('local' for in-process connections). */
  private addressOf(client: Client | undefined): string {
    return (client?.conn as FrameGuard | undefined)?.remoteAddress ?? 'local';
  }

  /** Logs at most once per address, per kind of event, per mqtt.logEveryMs; says how many went unlogged. */
  private gatedLog(client: Client | string | undefined, kind: string, level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    const remoteAddress = typeof client === 'string' ? client : this.addressOf(client);
    const unlogged = this.logGate.pass(`${kind} ${addressKey(remoteAddress)}`);
    if (unlogged === undefined) return;
    const clientId = typeof client === 'object' && client.id ? printable(client.id) : undefined;
    this.log[level]({ clientId, remoteAddress, ...fields, ...(unlogged > 0 ? { unloggedBefore: unlogged } : {}) }, msg);
  }

  /** Tells a device why (part of) a message was refused. */
  notify(deviceId: string, notice: RejectionNotice): void {
    this.aedes.publish({ cmd: 'publish', topic: topics.rejected(deviceId), payload: Buffer.from(JSON.stringify(notice)), qos: 1, retain: false, dup: false }, () => {});
  }

  /** Feeds one connection (any duplex stream) to the broker, through the frame guard and the connect guard. */
  handle(conn: Duplex, remoteAddress = 'local'): void {
    const { maxPayloadBytes, maxFiltersPerSubscribe } = this.config.mqtt;
    const max = maxPayloadBytes + PACKET_OVERHEAD;
    const clientOf = () => (guarded as unknown as { client?: Client }).client;
    const guarded = new FrameGuard(conn, {
      maxPacketBytes: max,
      maxFiltersPerSubscribe,
      gate: this.ingest.queue,
      onTooLarge: (announced) => {
        this.metrics.packetsTooLarge.inc();
        const client = clientOf();
        this.gatedLog(client ?? remoteAddress, 'packet-too-large', 'warn', { announced, limit: max, code: 'GW_ERR_PACKET_TOO_LARGE' }, 'packet over the size limit; connection closed before reading it');
        const who = client ? this.identities.get(client) : undefined;
        if (who?.role === 'device') {
          this.notify(who.id, {
            code: 'GW_ERR_PACKET_TOO_LARGE', topic: '', accepted: 0, refused: 1, time: new Date().toISOString(),
            errors: [{ code: 'GW_ERR_PACKET_TOO_LARGE', reason: `a packet of ${announced} bytes was announced; at most ${max} are accepted (payload limit ${maxPayloadBytes})` }],
          });
        }
      },
      onTooManyFilters: (packetBytes) => {
        this.metrics.subscribeLimitRefusals.inc({ limit: 'filters-per-subscribe' });
        this.gatedLog(clientOf() ?? remoteAddress, 'subscribe-limit', 'warn', { packetBytes, limit: maxFiltersPerSubscribe, code: 'GW_ERR_SUBSCRIBE_LIMIT' }, `SUBSCRIBE with more than ${maxFiltersPerSubscribe} filters (mqtt.maxFiltersPerSubscribe); connection closed before any of it was looked at`);
      },
    }, remoteAddress);
    // A connection must be let in within mqtt.connectTimeoutMs of opening, whatever it sends
    // meanwhile (nothing, half a CONNECT, a CONNECT whose login is refused or never ends).
    const timer = setTimeout(() => {
      const client = clientOf();
      if (client?.connected || guarded.destroyed) return;
      this.metrics.connectionsRefused.inc({ reason: 'connect-timeout' });
      this.gatedLog(client ?? remoteAddress, 'connect-timeout', 'info', { timeoutMs: this.config.mqtt.connectTimeoutMs, code: 'GW_ERR_CONNECT_TIMEOUT' }, 'connection closed: not logged in within mqtt.connectTimeoutMs');
      guarded.destroy();
    }, this.config.mqtt.connectTimeoutMs);
    timer.unref();
    guarded.once('close', () => clearTimeout(timer));
    this.aedes.handle(guarded as never);
  }

  /** Per-address, total and descriptor caps, applied before any byte is read. */
  private admit(socket: Socket | Duplex, remoteAddress: string): boolean {
    const { maxConnectionsPerIp, maxConnections } = this.limits!;
    const key = addressKey(remoteAddress);
    const n = this.perIp.get(key) ?? 0;
    const refuse = (reason: string, code: string | undefined, msg: string) => {
      this.metrics.connectionsRefused.inc({ reason });
      this.gatedLog(remoteAddress, reason, 'warn', { fromAddress: n, total: this.connections, code }, msg);
      socket.destroy();
      return false;
    };
    if (!this.accepting) return refuse('shutting-down', undefined, 'connection refused: the gateway is shutting down');
    if (n >= maxConnectionsPerIp) return refuse('per-address-limit', 'GW_ERR_TOO_MANY_CONNECTIONS', `connection refused: ${maxConnectionsPerIp} connections from this address already (mqtt.maxConnectionsPerIp)`);
    if (this.connections >= maxConnections) return refuse('total-limit', 'GW_ERR_TOO_MANY_CONNECTIONS', `connection refused: ${maxConnections} connections already (mqtt.maxConnections)`);
    if (this.budget && !this.budget.fits(this.connections)) return refuse('no-file-descriptors', 'GW_ERR_NO_FILE_DESCRIPTORS', `connection refused: it would leave too few of the process's ${this.limits!.openFileLimit} file descriptors`);
    this.perIp.set(key, n + 1);
    this.connections++;
    socket.once('close', () => {
      this.connections--;
      const left = (this.perIp.get(key) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(key);
      else this.perIp.set(key, left);
    });
    return true;
  }

  /** Errors of a listener after it started (none reaches an unheard 'error' event). */
  private onListenerError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EMFILE' || err.code === 'ENFILE') {
      this.metrics.connectionsRefused.inc({ reason: 'no-file-descriptors' });
      const unlogged = this.logGate.pass('listener no-file-descriptors');
      if (unlogged !== undefined) this.log.warn({ code: 'GW_ERR_NO_FILE_DESCRIPTORS', err: err.code, unloggedBefore: unlogged || undefined }, 'a connection could not be accepted: the process has no file descriptor left');
      return;
    }
    this.log.error({ err }, 'MQTT listener error');
  };

  /** Works out the connection caps from the configuration and the open-file limit. */
  private setLimits(): void {
    const { mqtt } = this.config;
    const files = openFileLimit();
    this.limits = connectionLimits(files.limit, mqtt);
    this.budget = new DescriptorBudget(files.limit);
    this.budget.sample(0);
    this.log.info({ ...this.limits, openFileLimitFrom: files.source, configured: { maxConnections: mqtt.maxConnections, maxConnectionsPerIp: mqtt.maxConnectionsPerIp } }, 'connection limits');
    if (this.limits.maxConnections >= files.limit || this.limits.maxConnectionsPerIp >= files.limit) {
      this.log.warn({ ...this.limits }, `mqtt.maxConnections or mqtt.maxConnectionsPerIp is at or above the process's open-file limit (${files.limit}): connections beyond what the descriptors allow are refused (GW_ERR_NO_FILE_DESCRIPTORS); raise the limit (ulimit -n, LimitNOFILE) or lower the caps`);
    }
  }

  private onSocket = (socket: Socket): void => {
    const addr = socket.remoteAddress ?? 'unknown';
    socket.setNoDelay(true);
    if (this.admit(socket, addr)) this.handle(socket, addr);
  };

  async listen(): Promise<ListenAddresses> {
    const { mqtt } = this.config;
    this.setLimits();
    await this.cluster?.connect();
    await this.aedes.listen();
    this.subscriptions.guard((this.aedes as unknown as { persistence: SubscriptionStore }).persistence);
    const listen = (server: NetServer | HttpServer, port: number, key = 'port') =>
      new Promise<number>((resolve, reject) => {
        const fail = (err: NodeJS.ErrnoException) => reject(new UsageGatewayError('GW_ERR_CONFIG', `mqtt.${key}: cannot listen on ${mqtt.host}:${port} (${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ': another process has that port' : ''})`));
        server.once('error', fail);
        server.listen({ port, host: mqtt.host, backlog: mqtt.listenBacklog }, () => {
          server.off('error', fail);
          server.on('error', this.onListenerError);
          this.servers.push(server);
          resolve((server.address() as AddressInfo).port);
        });
      });
    const out: ListenAddresses = { mqtt: await listen(createNetServer(this.onSocket), mqtt.port) };
    if (mqtt.tlsPort !== undefined) {
      const tls = tlsServer(mqtt.tlsCert!, mqtt.tlsKey!, this.onSocket);
      out.mqtts = await listen(tls, mqtt.tlsPort, 'tlsPort');
    }
    if (mqtt.wsPort !== undefined) {
      const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n'));
      this.wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: mqtt.maxPayloadBytes + PACKET_OVERHEAD });
      this.wss.on('error', () => {}); // re-emitted errors of its HTTP server, which onListenerError reports
      this.wss.on('connection', (ws, req) => {
        const addr = req.socket.remoteAddress ?? 'unknown';
        const stream = createWebSocketStream(ws);
        stream.on('error', () => {});
        if (this.admit(stream, addr)) this.handle(stream, addr);
      });
      out.ws = await listen(http, mqtt.wsPort, 'wsPort');
    }
    return out;
  }

  /** Reasons the broker cannot serve (Redis lost, in cluster mode). */
  notReady(): string[] {
    return this.cluster?.notReady() ?? [];
  }

  /** Stops accepting connections (first step of a shutdown). */
  stopAccepting(): void {
    this.accepting = false;
    for (const s of this.servers) s.close(); // no new connections; open ones go on until close()
  }

  async close(): Promise<void> {
    this.stopAccepting();
    this.wss?.close();
    const closed = new Promise<void>((r) => this.aedes.close(() => r()));
    await (this.cluster ? this.cluster.close(closed) : closed);
    for (const s of this.servers) (s as HttpServer).closeAllConnections?.();
    this.servers = [];
  }
}
