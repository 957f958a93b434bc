/**
 * What every pipeline worker shares: BullMQ options for crash safety and a shutdown with a
 * deadline (BullMQ's `worker.close()` waits for active jobs forever).
 *
 * No lost work: a job's lock expires when its process dies (SIGKILL, OOM, lost machine); another
 * worker's stalled-job check then puts it back (up to `maxStalledCount` times, then it fails for an
 * operator to look at). Redis itself must persist (AOF) for queued work to survive a Redis restart;
 * the connections reconnect forever (redis-connection.ts).
 */
import type { Worker, WorkerOptions } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CrashSafety {
  /** A job is presumed dead this long after its worker stopped renewing the lock. */
  lockDurationMs: number;
  /** How often each worker looks for stalled jobs. */
  stalledIntervalMs: number;
  /** A job that stalls more often than this fails (a poison job must not crash workers forever). */
  maxStalledCount: number;
}

export const DEFAULT_CRASH_SAFETY: CrashSafety = { lockDurationMs: 30_000, stalledIntervalMs: 30_000, maxStalledCount: 2 };

export function crashSafeOptions(c: CrashSafety): Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'> {
  return { lockDuration: c.lockDurationMs, stalledInterval: c.stalledIntervalMs, maxStalledCount: c.maxStalledCount };
}

/**
 * Stops taking jobs, lets active ones finish until the deadline, then closes by force: the jobs
 * still running keep their data in Redis and are picked up again by the stalled-job check once
 * their lock expires. Returns true when everything finished in time.
 *
 * Not `close()` then `close(true)`: BullMQ returns the pending graceful close to the second call,
 * so the force would never happen. `pause()` waits for the active jobs without closing anything.
 */
export async function closeWorkers(workers: readonly Worker[], deadlineMs: number): Promise<boolean> {
  const deadline = new AbortController();
  const drained = Promise.all(workers.map((w) => w.pause())).then(() => true);
  const inTime = await Promise.race([drained, sleep(deadlineMs, false, { signal: deadline.signal }).catch(() => false)]);
  // The deadline's timer must not keep the process alive once the jobs are done.
  deadline.abort();
  await Promise.all(workers.map((w) => w.close(!inTime)));
  return inTime;
}
