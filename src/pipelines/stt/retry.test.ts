import { describe, expect, it } from 'vitest';
import { isConnectionError, parseRetryAfter, withRetry, type RetryPolicy } from './retry.js';
import { SttError } from './types.js';

const policy: RetryPolicy = { maxAttempts: 4, attemptTimeoutMs: 1_000, deadlineMs: 10_000, baseDelayMs: 10, maxDelayMs: 40, maxRetryAfterMs: 2_000 };
const http = (status: number, retryable: boolean, retryAfterMs?: number) =>
  new SttError(`HTTP ${status}`, { code: 'http', status, retryable, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2025-03-14T09:30:00Z');
    expect(parseRetryAfter('Fri, 14 Mar 2025 09:30:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Fri, 14 Mar 2025 09:29:00 GMT', now)).toBe(0); // in the past: no wait
  });
  it('ignores absent or unreadable values', () => {
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('isConnectionError', () => {
  it('recognises undici and SDK connection failures', () => {
    expect(isConnectionError(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('Unable to make request'), { name: 'ConnectionError' }))).toBe(true);
    expect(isConnectionError(new Error('boom'))).toBe(false);
  });
});

describe('withRetry', () => {
  it('retries retryable failures and returns the success with the attempt count', async () => {
    let calls = 0;
    const seen: number[] = [];
    const r = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw http(503, true);
        return 'ok';
      },
      policy,
      { onRetry: (i) => seen.push(i.attempt) },
    );
    expect(r).toEqual({ value: 'ok', attempts: 3 });
    expect(seen).toEqual([1, 2]);
  });

  it('fails at once on a non-retryable error', async () => {
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
      throw http(401, false);
    }, policy).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(1);
    expect(err).toMatchObject({ status: 401, retryable: false, attempts: 1 });
  });

  it('stops after maxAttempts with the last error', async () => {
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
      throw http(500, true);
    }, policy).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(4);
    expect(err).toMatchObject({ status: 500, attempts: 4 });
  });

  it('waits at least Retry-After, and refuses waits above the cap', async () => {
    let calls = 0;
    const t0 = performance.now();
    await withRetry(async () => {
      if (calls++ === 0) throw http(429, true, 300);
      return 'ok';
    }, policy);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);

    const err = await withRetry(async () => {
      throw http(429, true, 60_000);
    }, policy).then(() => undefined, (e: unknown) => e as SttError);
    expect(err).toMatchObject({ retryAfterMs: 60_000, attempts: 1 });
  });

  it('times out a hanging attempt, gives it a fresh signal, and says so', async () => {
    const signals: AbortSignal[] = [];
    const r = await withRetry(
      ({ signal, attempt }) =>
        new Promise<string>((resolve, reject) => {
          signals.push(signal);
          if (attempt === 2) return resolve('second');
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { ...policy, attemptTimeoutMs: 100 },
    );
    expect(r).toEqual({ value: 'second', attempts: 2 });
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);

    const err = await withRetry(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
      ...policy,
      attemptTimeoutMs: 50,
      maxAttempts: 2,
    }).then(() => undefined, (e: unknown) => e as SttError);
    expect(err).toMatchObject({ code: 'timeout', retryable: true, attempts: 2 });
    expect(err?.message).toMatch(/within 50 ms/);
  });

  it('abandons an attempt at its timeout even when the client ignores the abort, and retries it', async () => {
    let first: (v: string) => void = () => undefined;
    const t0 = performance.now();
    const r = await withRetry(
      ({ attempt }) =>
        // A client whose abort never reaches its socket: the first answer only comes much later.
        new Promise<string>((resolve) => {
          if (attempt === 1) first = resolve;
          else resolve('second');
        }),
      { ...policy, attemptTimeoutMs: 100 },
    );
    expect(r).toEqual({ value: 'second', attempts: 2 });
    expect(performance.now() - t0).toBeLessThan(1_000);
    first('late'); // the abandoned answer arrives after all, and changes nothing
  });

  it('ends at the deadline even with attempts left', async () => {
    const t0 = performance.now();
    const err = await withRetry(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
      ...policy,
      attemptTimeoutMs: 10_000,
      deadlineMs: 200,
    }).then(() => undefined, (e: unknown) => e as SttError);
    expect(err).toMatchObject({ code: 'deadline', retryable: true, attempts: 1 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it('stops when the caller aborts, during an attempt or a wait', async () => {
    const controller = new AbortController();
    let calls = 0;
    const pending = withRetry(
      async () => {
        calls++;
        throw http(503, true, 1_500);
      },
      policy,
      { signal: controller.signal },
    ).then(() => undefined, (e: unknown) => e as SttError);
    setTimeout(() => controller.abort(), 50);
    const err = await pending;
    expect(err).toMatchObject({ code: 'aborted', retryable: false });
    expect(calls).toBe(1);
  });

  it('does not retry programming errors', async () => {
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
      throw new RangeError('bug');
    }, policy).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(1);
    expect(err).toMatchObject({ code: 'bad_response', retryable: false });
  });

  it('backs off from the base, doubling, each wait within [d/2, d] and never above the cap', async () => {
    const waits: number[] = [];
    const err = await withRetry(async () => {
      throw http(503, true);
    }, { ...policy, maxAttempts: 5 }, { onRetry: (i) => waits.push(i.delayMs) }).then(() => undefined, (e: unknown) => e as SttError);
    expect(err).toMatchObject({ status: 503, attempts: 5 });
    // base 10 ms, cap 40 ms: d = 10, 20, 40, 40
    expect(waits).toHaveLength(4);
    const ceilings = [10, 20, 40, 40];
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual((ceilings[i] as number) / 2);
      expect(w).toBeLessThanOrEqual(ceilings[i] as number);
    });
  });

  it('counts Retry-After retries against maxAttempts, and reports the service\'s wait plus at most 10 % jitter', async () => {
    let calls = 0;
    const waits: number[] = [];
    const err = await withRetry(async () => {
      calls++;
      throw http(429, true, 20);
    }, policy, { onRetry: (i) => waits.push(i.delayMs), random: () => 1 }).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(4);
    expect(err).toMatchObject({ status: 429, attempts: 4 });
    expect(waits).toEqual([22, 22, 22]);
  });

  it('does not start a Retry-After wait that would end past the deadline: the 429 comes back at once', async () => {
    let calls = 0;
    const t0 = performance.now();
    const err = await withRetry(async () => {
      calls++;
      throw http(429, true, 1_500);
    }, { ...policy, deadlineMs: 1_000 }).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(1);
    expect(err).toMatchObject({ status: 429, retryAfterMs: 1_500, attempts: 1 });
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it('ends a Retry-After wait as soon as the caller cancels, without asking again', async () => {
    const controller = new AbortController();
    let calls = 0;
    const t0 = performance.now();
    const pending = withRetry(async () => {
      calls++;
      throw http(429, true, 1_800);
    }, policy, { signal: controller.signal }).then(() => undefined, (e: unknown) => e as SttError);
    setTimeout(() => controller.abort(new Error('meeting ending')), 50);
    const err = await pending;
    expect(err).toMatchObject({ code: 'aborted', retryable: false, attempts: 1 });
    expect(calls).toBe(1);
    expect(performance.now() - t0).toBeLessThan(1_500);
  });

  it('cancels before the first attempt when the signal is already aborted', async () => {
    let calls = 0;
    const err = await withRetry(async () => {
      calls++;
      return 'never';
    }, policy, { signal: AbortSignal.abort() }).then(() => undefined, (e: unknown) => e as SttError);
    expect(calls).toBe(0);
    expect(err).toMatchObject({ code: 'aborted', attempts: 0 });
  });
});
