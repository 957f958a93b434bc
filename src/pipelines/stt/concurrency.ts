/**
 * Per-process limit on speech-to-text requests in flight (STT_CONCURRENCY): slots handed out first
 * come, first served, so utterances are transcribed in the order they were spoken when the service
 * is the bottleneck. A waiter whose signal aborts leaves the queue.
 *
 * The queue is p-queue's (FIFO, a waiting task leaves on its signal's abort). What this adds is the
 * slot held across an `acquire`/`release` pair, and a signal that only counts while waiting: p-queue
 * settles a running task as soon as its signal aborts and gives its slot away while the request may
 * still be closing, whereas a slot here stays taken until its holder releases it.
 */
import PQueue from 'p-queue';

export class ConcurrencyLimiter {
  readonly #queue: PQueue;
  #held = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    this.#queue = new PQueue({ concurrency: limit });
  }

  get limit(): number {
    return this.#queue.concurrency;
  }

  /** Slots in use (taken and not yet released). */
  get active(): number {
    return this.#held;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    // The queue sees a signal that follows the caller's only until the slot is granted.
    const whileWaiting = new AbortController();
    const forward = () => whileWaiting.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    return new Promise((resolve, reject) => {
      this.#queue
        .add(
          () =>
            new Promise<void>((freeSlot) => {
              signal?.removeEventListener('abort', forward);
              this.#held++;
              let released = false;
              resolve(() => {
                if (released) return; // a double release must not free someone else's slot
                released = true;
                this.#held--;
                freeSlot();
              });
            }),
          { signal: whileWaiting.signal },
        )
        .catch(reject);
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
}
