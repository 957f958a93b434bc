import { Backoffs, type MinimalJob } from 'bullmq';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SETTINGS } from '../../config.js';
import { MeetingQueues } from './producers.js';
import { DEFERRED_STT_RETRY, jobIds, retryScheduleMs } from './queues.js';
import { createRedisConnection } from '../../meeting/redis-connection.js';

const HOUR_MS = 3_600_000;
const redis = createRedisConnection(`${inject('services').REDIS_URL}/14`);
afterAll(() => redis.disconnect());

describe('deferred speech-to-text retries', () => {
  it('add up to about an hour, as documented, and never past the shortest retention', () => {
    const waits = retryScheduleMs(DEFERRED_STT_RETRY);
    const total = waits.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0.75 * HOUR_MS);
    expect(total).toBeLessThanOrEqual(HOUR_MS);
    // RETENTION_DAYS is at least 1: every retry happens while the spooled audio is still kept.
    expect(SETTINGS.RETENTION_DAYS.schema.safeParse('0').success).toBe(false);
    expect(total).toBeLessThan(24 * HOUR_MS);
  });

  it('are what BullMQ itself computes for the options the real queue gives the job', async () => {
    const queues = new MeetingQueues(redis);
    try {
      await queues.deferredStt.obliterate({ force: true });
      await queues.deferredStt.pause(); // nobody takes the job: only its options are read
      await queues.addDeferredStt({
        meetingId: 'retry-schedule', segmentId: 'alice-00000', participant: { identity: 'alice', name: 'Alice' }, sequence: 0,
        trackSid: null, startMs: 0, endMs: 1000, startedAt: new Date().toISOString(), language: 'fr', prompt: null,
        audioKey: 'meetings/retry-schedule/audio-spool/alice-00000.flac',
      });
      const job = await queues.deferredStt.getJob(jobIds.deferredStt('retry-schedule', 'alice-00000'));
      const attempts = job!.opts.attempts!;
      const backoff = Backoffs.normalize(job!.opts.backoff!)!;
      const bullWaits: number[] = [];
      for (let made = 1; made < attempts; made++) bullWaits.push(Number(await Backoffs.calculate(backoff, made, new Error('503'), job as unknown as MinimalJob)));
      expect(bullWaits).toEqual(retryScheduleMs(DEFERRED_STT_RETRY));
      expect(bullWaits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(HOUR_MS);
    } finally {
      await queues.deferredStt.obliterate({ force: true });
      await queues.close();
    }
  });
});
