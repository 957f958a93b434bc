/**
 * Per-process limit on speech-to-text requests in flight (STT_CONCURRENCY): a counting semaphore
 * that serves waiters first come, first served, so utterances are transcribed in the order they
 * were spoken when the service is the bottleneck. A waiter whose signal aborts leaves the queue.
 */

export class ConcurrencyLimiter {
  readonly #limit: number;
  #active = 0;
  readonly #queue: { grant: () => void; reject: (e: unknown) => void; signal: AbortSignal | undefined; onAbort: () => void }[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Slots in use. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.#limit && this.#queue.length === 0) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', entry.onAbort);
          resolve(this.#releaser());
        },
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(entry);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#queue.push(entry);
    });
  }

  /** Runs `fn` holding a slot, releasing it however `fn` ends. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return; // a double release must not free someone else's slot
      released = true;
      const next = this.#queue.shift();
      if (next) next.grant(); // the slot passes straight to the next waiter
      else this.#active--;
    };
  }
}
