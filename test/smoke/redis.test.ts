import { Queue, QueueEvents, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';

describe('BullMQ (real Redis)', () => {
  const { REDIS_URL } = inject('services');
  const name = `smoke-${randomUUID().slice(0, 8)}`;
  const connection = createRedisConnection(REDIS_URL);
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection: createRedisConnection(REDIS_URL) });

  afterAll(async () => {
    await queue.obliterate({ force: true });
    await Promise.all([queue.close(), events.close()]);
    connection.disconnect();
  });

  it('runs a job on a worker and returns its result', async () => {
    const worker = new Worker(name, async (job) => (job.data as { words: string[] }).words.length, {
      connection: createRedisConnection(REDIS_URL),
    });
    try {
      await events.waitUntilReady();
      const job = await queue.add('count', { words: ['bonjour', 'à', 'tous'] }, { jobId: 'meeting-1_seg-1' });
      expect(await job.waitUntilFinished(events, 10_000)).toBe(3);
      // The same id again is a no-op while the job exists: that is how duplicates are refused.
      await queue.add('count', { words: [] }, { jobId: 'meeting-1_seg-1' });
      const stored = await queue.getJob('meeting-1_seg-1');
      expect((stored?.data as { words: string[] }).words).toHaveLength(3);
      expect(await queue.getJobCounts('completed', 'waiting', 'active')).toEqual({ completed: 1, waiting: 0, active: 0 });
    } finally {
      await worker.close();
    }
  });

  it('runs Redis with the eviction policy BullMQ needs', async () => {
    const [, policy] = (await connection.config('GET', 'maxmemory-policy')) as [string, string];
    expect(policy).toBe('noeviction');
  });
});
