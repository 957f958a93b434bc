/**
 * Retries for speech-to-text calls: exponential backoff with jitter on 429, 5xx, timeouts and
 * connection errors; the service's Retry-After honoured (up to a cap); a timeout per attempt and a
 * deadline for the whole call; everything else (400, 401, 404...) fails at once.
 *
 * This is the only retry loop for transcriptions (p-retry's, see withRetry), for both providers: the
 * Mistral adapter turns the SDK's own retries off for the call (see mistral.ts), so attempts are
 * never multiplied.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { SttError, type AttemptContext } from './types.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** One attempt is abandoned (and retried) after this long: STT_TIMEOUT_MS. */
  attemptTimeoutMs: number;
  /** The whole call, retries and waits included, ends after this long. */
  deadlineMs: number;
  /** Backoff before retry n (1-based) is drawn in [d/2, d) with d = baseDelayMs * 2^(n-1), then capped at maxDelayMs (p-retry's exponential backoff). */
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * A Retry-After longer than this is not waited for: the call fails at once with a retryable
   * error carrying retryAfterMs, so the caller can spool the audio instead of holding it.
   */
  maxRetryAfterMs: number;
}

/**
 * Defaults for a 30 s STT_TIMEOUT_MS: 4 attempts, backoff of about 0.5 s, 1 s, 2 s (up to 8 s),
 * Retry-After honoured up to 30 s, and 2 minutes at most for the whole call.
 */
export function defaultRetryPolicy(attemptTimeoutMs = 30_000): RetryPolicy {
  return {
    maxAttempts: 4,
    attemptTimeoutMs,
    deadlineMs: Math.max(120_000, attemptTimeoutMs * 2),
    baseDelayMs: 500,
    maxDelayMs: 8_000,
    maxRetryAfterMs: 30_000,
  };
}

/** HTTP statuses worth another attempt: rate limits, overload and gateway failures. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** True for errors fetch (undici) and the Mistral SDK raise when the connection fails. */
export function isConnectionError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const err = cur as { name?: unknown; code?: unknown; message?: unknown };
    if (typeof err.code === 'string' && CONNECTION_CODES.has(err.code)) return true;
    if (err.name === 'ConnectionError') return true; // @mistralai/mistralai
    if (cur instanceof TypeError && typeof err.message === 'string' && /fetch failed|terminated|other side closed/i.test(err.message)) return true;
  }
  return false;
}

/** The connection-level code behind an error (ECONNRESET...), for messages and logs. */
export function connectionCode(e: unknown): string | undefined {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
}

export interface RetryInfo {
  /** The attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  error: SttError;
}

export interface RetryOptions {
  signal?: AbortSignal;
  /** Called before each wait (log attempt counts and statuses here; never content). */
  onRetry?: (info: RetryInfo) => void;
  /** Draws the jitter added to a Retry-After wait (up to 10 %, at most 1 s); Math.random by default. */
  random?: () => number;
}

export interface RetryResult<T> {
  value: T;
  attempts: number;
}

/** What to do after a failed attempt, decided once and read by each of p-retry's hooks. */
interface Plan {
  retry: boolean;
  delayMs: number;
  /** The wait is the service's Retry-After (ours to sleep), not p-retry's backoff. */
  retryAfter: boolean;
}

const GIVE_UP: Plan = { retry: false, delayMs: 0, retryAfter: false };

/**
 * Runs `op` until it succeeds, fails with a non-retryable error, runs out of attempts or hits the
 * deadline. `op` gets a signal combining the caller's abort, the attempt timeout and the deadline.
 * Thrown errors are normalised to SttError (with `attempts` set).
 *
 * The loop, the backoff and the cancellable waits are p-retry's: backoff before retry n is drawn in
 * [d/2, d) with d = baseDelayMs * 2^(n-1) (p-retry's `randomize` multiplies minTimeout * 2^(n-1) by
 * [1, 2)), capped at maxDelayMs. A Retry-After answer replaces the backoff: such a retry does not
 * count as a backoff step (shouldConsumeRetry) and its wait is slept in onFailedAttempt, p-retry's
 * documented place for an extra delay. Kept here: the per-attempt timeout (p-retry has none), which
 * failures are retried, and "a wait that would end past the deadline is not started".
 */
export async function withRetry<T>(op: (ctx: AttemptContext) => Promise<T>, policy: RetryPolicy, opts: RetryOptions = {}): Promise<RetryResult<T>> {
  const { signal: callerSignal } = opts;
  const random = opts.random ?? Math.random;
  const deadline = performance.now() + policy.deadlineMs;
  let attempts = 0;
  let plan: Plan = GIVE_UP;

  const attempt = async (n: number): Promise<T> => {
    attempts = n;
    plan = GIVE_UP;
    const remaining = deadline - performance.now();
    const perAttempt = Math.min(policy.attemptTimeoutMs, remaining);
    const limitedByDeadline = perAttempt < policy.attemptTimeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new DOMException('attempt timed out', 'TimeoutError')), Math.max(0, perAttempt));
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout.signal]) : timeout.signal;
    // The attempt ends when its signal aborts, whether or not the client honours the signal: an
    // abort that never reaches the socket would otherwise let one slow answer hold the call past
    // STT_TIMEOUT_MS (seen once in 14 runs of the conformance suite). The Mistral SDK fetches a
    // clone of its Request, and a clone stops following its source's signal after a garbage
    // collection (nodejs/undici#4068, open and reproduced on undici 8.10.1 in 2026-09).
    const abandoned = new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason as Error);
      else signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
    abandoned.catch(() => undefined);
    try {
      return await Promise.race([op({ signal, attempt: n }), abandoned]);
    } catch (e) {
      const error = normalise(e, { callerSignal, timedOut: timeout.signal.aborted, limitedByDeadline, timeoutMs: Math.round(perAttempt) });
      error.attempts = n;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  const decide = (error: unknown, attemptNumber: number, backoffMs: number): Plan => {
    if (!(error instanceof SttError) || error.code === 'aborted' || error.code === 'deadline' || !error.retryable) return GIVE_UP;
    if (attemptNumber >= policy.maxAttempts) return GIVE_UP;
    let next: Plan = { retry: true, delayMs: backoffMs, retryAfter: false };
    if (error.retryAfterMs !== undefined) {
      // Asking again before the service said so only earns another 429; a wait above the cap is
      // not held at all (the caller spools the audio instead).
      if (error.retryAfterMs > policy.maxRetryAfterMs) return GIVE_UP;
      next = { retry: true, delayMs: error.retryAfterMs + Math.round(random() * Math.min(1000, error.retryAfterMs * 0.1)), retryAfter: true };
    }
    // A wait that would end past the deadline is not started: the last error now, not a deadline later.
    return performance.now() + next.delayMs >= deadline ? GIVE_UP : next;
  };

  try {
    const value = await pRetry(attempt, {
      retries: Math.max(0, policy.maxAttempts - 1),
      minTimeout: policy.baseDelayMs / 2,
      factor: 2,
      randomize: true,
      maxTimeout: policy.maxDelayMs,
      ...(callerSignal ? { signal: callerSignal } : {}),
      shouldConsumeRetry: ({ error, attemptNumber, retryDelay }) => {
        plan = decide(error, attemptNumber, retryDelay);
        return !plan.retryAfter;
      },
      onFailedAttempt: async ({ error, attemptNumber }) => {
        if (!plan.retry) return;
        opts.onRetry?.({ attempt: attemptNumber, delayMs: plan.delayMs, error: error as SttError });
        if (plan.retryAfter) await sleep(plan.delayMs, undefined, callerSignal ? { signal: callerSignal } : {});
      },
      shouldRetry: () => plan.retry,
    });
    return { value, attempts };
  } catch (e) {
    // Cancelled during an attempt or a wait: p-retry rejects with the signal's reason.
    if (callerSignal?.aborted) throw cancelled(callerSignal.reason, attempts);
    throw e;
  }
}

function normalise(
  e: unknown,
  ctx: { callerSignal: AbortSignal | undefined; timedOut: boolean; limitedByDeadline: boolean; timeoutMs: number },
): SttError {
  // The signals say what happened, whatever the error looks like (fetch, SDK or our own).
  if (ctx.callerSignal?.aborted) {
    return new SttError('speech-to-text request cancelled', { code: 'aborted', retryable: false, cause: e });
  }
  if (ctx.timedOut) {
    return ctx.limitedByDeadline
      ? new SttError('speech-to-text did not answer before the call deadline', { code: 'deadline', retryable: true, cause: e })
      : new SttError(`speech-to-text did not answer within ${ctx.timeoutMs} ms (STT_TIMEOUT_MS)`, { code: 'timeout', retryable: true, cause: e });
  }
  if (e instanceof SttError) return e;
  if (isConnectionError(e)) {
    const code = connectionCode(e);
    return new SttError(`speech-to-text connection failed${code ? ` (${code})` : ''}`, { code: 'connection', retryable: true, cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new SttError(`speech-to-text failed unexpectedly: ${message.slice(0, 200)}`, { code: 'bad_response', retryable: false, cause: e });
}

function cancelled(reason: unknown, attempts: number): SttError {
  const err = new SttError('speech-to-text request cancelled', { code: 'aborted', retryable: false, cause: reason });
  err.attempts = attempts;
  return err;
}
