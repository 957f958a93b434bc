import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from './concurrency.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('ConcurrencyLimiter', () => {
  it('never runs more than the limit at once and serves waiters in arrival order', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = new Map<number, () => void>();
    const jobs = [0, 1, 2, 3, 4].map((i) =>
      limiter.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => gates.set(i, r));
        running--;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(limiter.waiting).toBe(3);
    gates.get(1)?.();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates.get(0)?.();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    gates.get(2)?.();
    gates.get(3)?.();
    await tick();
    gates.get(4)?.();
    expect(await Promise.all(jobs)).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
  });

  it('releases the slot when the job throws', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
    expect(limiter.active).toBe(0);
  });

  it('lets an aborted waiter leave the queue without taking a slot', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    const after = limiter.acquire();
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    expect(limiter.waiting).toBe(1);
    release();
    const releaseAfter = await after;
    expect(limiter.active).toBe(1);
    releaseAfter();
    releaseAfter(); // a second release is harmless
    expect(limiter.active).toBe(0);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new ConcurrencyLimiter(0)).toThrow(RangeError);
  });

  it('keeps a slot taken until its holder releases it, even when the holder\'s signal aborts meanwhile', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const controller = new AbortController();
    const release = await limiter.acquire(controller.signal);
    let nextStarted = false;
    const next = limiter.run(async () => {
      nextStarted = true;
    });
    controller.abort(new Error('meeting ending'));
    await tick();
    expect(nextStarted).toBe(false);
    expect(limiter.active).toBe(1);
    release();
    await next;
    expect(nextStarted).toBe(true);
    expect(limiter.active).toBe(0);
  });

  it('rejects at once, without queueing, when the signal is already aborted', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.acquire(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    expect(limiter.waiting).toBe(0);
    expect(limiter.active).toBe(0);
  });

  it('grants a best-effort slot only when one is free and nobody waits, never queueing it', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const first = limiter.tryAcquire(() => undefined);
    expect(first).not.toBeNull();
    expect(limiter.active).toBe(1);
    const release = await limiter.acquire();
    expect(limiter.tryAcquire(() => undefined)).toBeNull(); // both slots taken
    expect(limiter.waiting).toBe(0);
    release();
    first!();
    first!(); // a double release frees nothing more
    expect(limiter.active).toBe(0);
  });

  it('takes a best-effort slot back for the first caller that would wait, and hands it over on release', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const held = await limiter.acquire();
    const preempted: string[] = [];
    const older = limiter.tryAcquire(() => preempted.push('older'))!;
    const finalWaits = limiter.acquire();
    expect(preempted).toEqual(['older']); // the final asked while every slot was taken
    expect(limiter.waiting).toBe(1);
    older();
    const release = await finalWaits;
    expect(limiter.active).toBe(2);
    // A caller that finds a free slot preempts nobody.
    release();
    await tick();
    const again = limiter.tryAcquire(() => preempted.push('again'))!;
    held();
    await limiter.acquire().then((r) => r());
    expect(preempted).toEqual(['older']);
    again();
    expect(limiter.active).toBe(0);
  });
});
