import { Redis, type RedisOptions } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import redisPersistence from 'aedes-persistence-redis';
import type { Logger } from 'pino';
import { UsageGatewayError } from '../../protocol/errors.ts';

export interface ClusterOptions {
  redisUrl: string;
  /** Namespace in Redis: keys `<prefix>:…`, pub/sub channels `<prefix>/…`. */
  prefix: string;
  /** Seconds a queued QoS 1 message for an absent persistent session is kept; 0: for ever. */
  offlineTtlS: number;
  log: Logger;
}

/** What Aedes takes as `mq`: an MQEmitter (the prefixed Redis one here). */
type Emitter = ReturnType<typeof mqemitterRedis>;
type PrefixedEmitter = new (prefix: string, opts: Record<string, unknown>) => Emitter;

/** The redis URL without its credentials, for logs and error messages. */
export function redisAddress(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

/**
 * The Redis side of cluster mode: the emitter (mqemitter-redis) that routes every publish to
 * the subscribers of all instances, and the persistence (aedes-persistence-redis) that holds
 * sessions, subscriptions, queued QoS 1 messages, retained messages and wills for all of them.
 * The three connections are ours (not the libraries'), so that nothing is opened before
 * connect(), their errors are logged once per outage, and their state says whether we are ready.
 */
export class ClusterLink {
  readonly mq: Emitter;
  readonly persistence: { destroy(): Promise<void> };
  readonly address: string;
  private readonly conns: Redis[];
  private readonly log: Logger;
  private up = false;
  private lost = false;
  private lastError = '';
  private closed = false;

  constructor(o: ClusterOptions) {
    this.log = o.log;
    this.address = redisAddress(o.redisUrl);
    const base: RedisOptions = { lazyConnect: true, connectionName: `${o.prefix}-gateway` };
    const db = new Redis(o.redisUrl, { ...base, keyPrefix: `${o.prefix}:` });
    const sub = new Redis(o.redisUrl, base);
    const pub = new Redis(o.redisUrl, base);
    this.conns = [db, sub, pub];
    for (const conn of this.conns) {
      conn.on('error', (err: Error) => (this.lastError = err.message));
      conn.on('close', () => this.onClose());
      conn.on('ready', () => this.onReady());
    }
    // Channels are prefixed at a topic level boundary, so that `#` and `+` keep working.
    const Prefixed = (mqemitterRedis as unknown as { MQEmitterRedisPrefix: PrefixedEmitter }).MQEmitterRedisPrefix;
    this.mq = new Prefixed(`${o.prefix}/`, { subConn: sub, pubConn: pub, matchEmptyLevels: true }); // [MQTT-4.7.1-3], as Aedes' own emitter
    (this.mq as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => {}); // outages are reported from the connections' own events
    this.persistence = redisPersistence({ conn: db, packetTTL: () => o.offlineTtlS });
  }

  /** Opens the connections; refuses to go on without Redis, with a clear error. */
  async connect(): Promise<void> {
    try {
      await Promise.all(this.conns.map((c) => c.connect()));
    } catch (err) {
      for (const c of this.conns) c.disconnect();
      throw new UsageGatewayError('GW_ERR_REDIS_UNAVAILABLE', `cluster mode: cannot reach Redis at ${this.address} (${this.lastError || (err as Error).message}); check cluster.redisUrl and that Redis is up`);
    }
    this.up = true;
    this.log.info({ redis: this.address }, 'cluster mode: sessions, retained messages and routing shared through Redis');
  }

  /** Reasons this instance cannot serve MQTT as a cluster member (for /readyz). */
  notReady(): string[] {
    const down = this.conns.filter((c) => c.status !== 'ready').length;
    return down > 0 && this.up && !this.closed ? [`Redis at ${this.address} is unreachable (${down} of ${this.conns.length} connections down): sessions and routing between instances are not available`] : [];
  }

  /** Logged once per outage; ioredis reconnects by itself (and resubscribes the emitter). */
  private onClose(): void {
    if (!this.up || this.lost || this.closed) return; // before connect(), failing is connect()'s to report
    this.lost = true;
    this.log.error({ redis: this.address, code: 'GW_ERR_REDIS_UNAVAILABLE' }, 'lost the connection to Redis; reconnecting, and not ready until it is back');
  }

  private onReady(): void {
    if (!this.lost || this.conns.some((c) => c.status !== 'ready')) return;
    this.lost = false;
    this.log.info({ redis: this.address }, 'connection to Redis back; ready');
  }

  /**
   * Called once Aedes is closing (it quits the emitter's connections itself): drops this
   * instance's subscription to the persistence broadcasts, then every connection. Every wait is
   * bounded: with Redis away, a quit is queued for ever (and ioredis never reports the end of a
   * connection that is between two reconnect attempts), which must not hold the shutdown.
   */
  async close(aedesClosed: Promise<void>, waitMs = 2_000): Promise<void> {
    if (this.closed) return;
    this.closed = true; // connections closing from here on are no outage
    const within = async (p: Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    };
    if (this.conns.every((c) => c.status === 'ready')) {
      await within(aedesClosed);
      await within(this.persistence.destroy().catch(() => {}));
    }
    for (const c of this.conns) c.disconnect();
    await within(aedesClosed);
  }
}
