/**
 * Per-process limit on speech-to-text requests in flight (STT_CONCURRENCY): slots handed out first
 * come, first served, so utterances are transcribed in the order they were spoken when the service
 * is the bottleneck. A waiter whose signal aborts leaves the queue.
 *
 * The queue is p-queue's (FIFO, a waiting task leaves on its signal's abort). What this adds is the
 * slot held across an `acquire`/`release` pair, and a signal that only counts while waiting: p-queue
 * settles a running task as soon as its signal aborts and gives its slot away while the request may
 * still be closing, whereas a slot here stays taken until its holder releases it.
 *
 * Best-effort holders (live interim captions, issue #15) come second: `tryAcquire` takes a slot only
 * when one is free and nobody waits (never queues), and gives it up to the first caller that would
 * otherwise wait (its `onPreempt` runs; the slot is free once its holder releases it).
 */
import PQueue from 'p-queue';

export class ConcurrencyLimiter {
  readonly #queue: PQueue;
  #held = 0;
  /** Preemption callbacks of best-effort slots now held, oldest first. */
  readonly #preemptible = new Set<() => void>();

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
    return new Promise((resolve, reject) => {
      this.#enqueue(signal, resolve, reject);
      // All slots taken: a best-effort holder gives its slot up to this caller.
      if (this.#queue.size > 0 && this.#held >= this.limit) this.#preemptOne();
    });
  }

  /**
   * A slot now, or null: only when one is free and nobody waits for one (it never queues). The slot
   * is best effort: when a caller of `acquire` would have to wait, the oldest best-effort holder's
   * `onPreempt` is called (once); it should stop its work and release. Returns the release function.
   */
  tryAcquire(onPreempt: () => void): (() => void) | null {
    if (this.#queue.size > 0 || this.#held >= this.limit) return null;
    let granted: (() => void) | undefined;
    // p-queue starts a task synchronously when it has room. A slot just released is free for it only
    // a few microtasks later: then the attempt leaves the queue at once, and there is no slot now.
    const attempt = new AbortController();
    this.#enqueue(attempt.signal, (release) => (granted = release), () => undefined);
    if (!granted) {
      attempt.abort(new Error('no free slot'));
      return null;
    }
    const release = granted;
    const preempt = () => {
      this.#preemptible.delete(preempt);
      onPreempt();
    };
    this.#preemptible.add(preempt);
    return () => {
      this.#preemptible.delete(preempt);
      release();
    };
  }

  #enqueue(signal: AbortSignal | undefined, granted: (release: () => void) => void, failed: (reason: unknown) => void): void {
    // The queue sees a signal that follows the caller's only until the slot is granted.
    const whileWaiting = new AbortController();
    const forward = () => whileWaiting.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    this.#queue
      .add(
        () =>
          new Promise<void>((freeSlot) => {
            signal?.removeEventListener('abort', forward);
            this.#held++;
            let released = false;
            granted(() => {
              if (released) return; // a double release must not free someone else's slot
              released = true;
              this.#held--;
              freeSlot();
            });
          }),
        { signal: whileWaiting.signal },
      )
      .catch(failed);
  }

  #preemptOne(): void {
    const first = this.#preemptible.values().next();
    if (!first.done) first.value();
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
