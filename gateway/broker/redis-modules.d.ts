// aedes-persistence-redis ships no type declarations; this is the part the gateway uses.
declare module 'aedes-persistence-redis' {
  import type { Redis, RedisOptions } from 'ioredis';

  interface RedisPersistenceOptions extends RedisOptions {
    /** A connection of our own instead of one the persistence opens. */
    conn?: Redis;
    /** Queued messages delivered at most on one CONNECT (default 1000). */
    maxSessionDelivery?: number;
    /** Seconds a stored QoS 1 message is kept; 0: for ever. */
    packetTTL?: (packet: unknown) => number;
  }

  export default function redisPersistence(opts?: RedisPersistenceOptions): { destroy(): Promise<void> };
}
