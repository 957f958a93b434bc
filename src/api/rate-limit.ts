/**
 * Token buckets per caller, in this process's memory: each API instance limits on its own, which is
 * enough to keep one runaway client (a front end polling in a loop, a script guessing keys) from
 * starving the others and from hammering LiveKit.
 */

export interface BucketOptions {
  /** Requests allowed in a burst. */
  capacity: number;
  /** Tokens added back per second. */
  refillPerSecond: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly options: BucketOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly maxKeys = 50_000,
  ) {}

  /** Takes one token; returns 0 when allowed, else the seconds to wait before the next try. */
  take(key: string): number {
    const bucket = this.#refilled(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.options.refillPerSecond));
  }

  /** Whether a token is available, without taking it. */
  has(key: string): boolean {
    return this.#refilled(key).tokens >= 1;
  }

  #refilled(key: string): Bucket {
    const now = this.now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.maxKeys) this.#prune(now);
      bucket = { tokens: this.options.capacity, at: now };
      this.#buckets.set(key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.at) / 1000;
    bucket.tokens = Math.min(this.options.capacity, bucket.tokens + elapsed * this.options.refillPerSecond);
    bucket.at = now;
    return bucket;
  }

  /** Forgets buckets that are full again (they behave exactly like new ones). */
  #prune(now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.options.refillPerSecond >= this.options.capacity) this.#buckets.delete(key);
    }
    // Still full of busy callers: drop the oldest rather than grow without bound.
    if (this.#buckets.size >= this.maxKeys) {
      const first = this.#buckets.keys().next();
      if (!first.done) this.#buckets.delete(first.value);
    }
  }
}
