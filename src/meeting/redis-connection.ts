import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis connection for BullMQ. Workers block on Redis, so retries per request must be off
 * (`maxRetriesPerRequest: null`); the connection itself reconnects forever with backoff, so a
 * Redis restart delays work instead of losing it.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(200 * attempt, 2_000),
    ...options,
  });
}
