/**
 * Request limits of the control plane, shared by every API instance through Redis
 * (@fastify/rate-limit's Redis store: one counter per key and fixed window, so two instances behind
 * a load balancer do not double the limits).
 *
 * Whose budget a request spends:
 * - a valid credential spends its own: one budget per service key, one per host (room + identity).
 *   Nobody else's failures can exhaust it, whatever address they come from;
 * - a missing or invalid credential spends its client address's budget (a script guessing keys or
 *   replaying expired tokens). Behind a load balancer the client address is only known when the
 *   proxy is trusted (TRUSTED_PROXIES); otherwise every client shares the proxy's address.
 *
 * Throttling bad credentials protects the server, not the secrets: a service key must be at least
 * 32 characters of randomness and a host token is signed, so neither can be guessed in any number
 * of tries; a valid credential is therefore served even from an address that sent bad ones.
 */
import { createHash } from 'node:crypto';
import rateLimit, { normalizeIP, type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { RATE_LIMIT_PREFIX } from '../meeting/redis-keys.js';
import type { Caller } from './auth.js';
import { ApiError } from './errors.js';

export interface Limit {
  /** Requests allowed per window. */
  max: number;
  /** Window length, seconds (the counter starts at the window's first request). */
  windowSeconds: number;
}

export interface RateLimits {
  /** Per service key. */
  service: Limit;
  /** Per host (room + identity). */
  host: Limit;
  /** Per client address, counting only requests without a valid credential. */
  failedAuth: Limit;
}

/** A backend polling many rooms; a front end polling once a second; 20 bad credentials a minute. */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  service: { max: 3000, windowSeconds: 60 },
  host: { max: 60, windowSeconds: 60 },
  failedAuth: { max: 20, windowSeconds: 60 },
};


/**
 * The budget a request spends: `service:<key number>`, `host:<digest of room and identity>` (no
 * name or identity in Redis), or `ip:<client address>` (IPv6: its /64) when it has no valid credential.
 */
export function limitKey(caller: Caller | null, ip: string): string {
  if (!caller) return `ip:${normalizeIP(ip)}`;
  if (caller.kind === 'service') return `service:${caller.id}`;
  return `host:${createHash('sha256').update(`${caller.room}\n${caller.identity}`, 'utf8').digest('base64url').slice(0, 32)}`;
}

function limitOf(limits: RateLimits, key: string): Limit {
  if (key.startsWith('service:')) return limits.service;
  if (key.startsWith('host:')) return limits.host;
  return limits.failedAuth;
}

/**
 * The plugin's options for our limits: register with `app.register(rateLimit, rateLimitOptions(...))`
 * before the routes, which it then limits unless their config says `rateLimit: false`.
 * `callerOf(req)` is the request's authenticated caller (null: none or an invalid credential), set
 * by a hook that runs before the limit's.
 */
export function rateLimitOptions(options: {
  redis: Redis;
  limits: RateLimits;
  callerOf: (req: FastifyRequest) => Caller | null;
  namespace?: string;
}): RateLimitPluginOptions {
  const { limits, callerOf } = options;
  return {
    global: true,
    redis: options.redis,
    nameSpace: options.namespace ?? RATE_LIMIT_PREFIX,
    keyGenerator: (req) => limitKey(callerOf(req), req.ip),
    max: (_req, key) => limitOf(limits, key).max,
    timeWindow: (_req, key) => limitOf(limits, key).windowSeconds * 1000,
    // Redis down: the request goes on and fails (or not) on its own merits, not on its counter.
    skipOnError: true,
    errorResponseBuilder: (_req, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return new ApiError(429, 'rate_limited', `Too many requests; retry in ${seconds} s.`, undefined, { 'retry-after': String(seconds) });
    },
  };
}

export { rateLimit };
