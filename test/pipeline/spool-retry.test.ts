/**
 * The agent's last line against losing an utterance: when speech-to-text is down its audio is
 * spooled to S3 and a deferred job queued, and a storage step that fails for a moment (Redis or S3
 * briefly away) is tried again, with backoff, before the utterance is given up. Real Redis (a
 * private one) and MinIO; speech-to-text is the replay server answering 503.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../src/local/redis-server.js';
import { createLogger } from '../../src/logging.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { segmentId } from '../../src/meeting/segment.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { jobIds } from '../../src/pipelines/queues/queues.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { ensureBucket } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { spoolingProcessor, toneUtterance } from './spooling.js';

const services = inject('services');
let redis: RedisServer;
let connection: Redis;
let queues: MeetingQueues;
let stt: ReplayServer;
const s3 = createS3Client(services);
const bucket = `spool-retry-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  redis = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-spool-retry-')) });
  connection = createRedisConnection(redis.url);
  queues = new MeetingQueues(connection);
  await ensureBucket(s3, bucket);
  stt = await startReplayServer({ provider: 'openai', cassettes: [] });
  stt.setFaults({ route: 'openai.transcriptions', status: 503 });
}, 60_000);

afterAll(async () => {
  await queues?.close();
  connection?.disconnect();
  await stt?.close();
  await redis?.stop();
  s3.destroy();
});

/** One utterance through the agent's processor, its deferred job queued by `addDeferredStt`; returns the log lines. */
async function spoolOne(meetingId: string, addDeferredStt: MeetingQueues['addDeferredStt']): Promise<{ level: number; msg: string; attempt?: number }[]> {
  const lines: { level: number; msg: string; attempt?: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
      cb();
    },
  });
  const processor = spoolingProcessor({
    meetingId,
    sttUrl: stt.url,
    queues: { addSegment: (s) => queues.addSegment(s), addDeferredStt },
    s3,
    bucket,
    retentionDays: 1,
    logger: createLogger('agent', 'info', sink),
  });
  processor.submit(toneUtterance(0));
  await processor.drain(20_000);
  expect(processor.stats.deferred).toBe(1);
  return lines;
}

describe('spooling an utterance while storage is briefly away', () => {
  it('queues the deferred job once Redis answers again, after backing off, and loses nothing', async () => {
    const meetingId = `spool-retry-${randomUUID().slice(0, 8)}`;
    let calls = 0;
    const calledAt: number[] = [];
    const lines = await spoolOne(meetingId, async (job) => {
      calledAt.push(performance.now());
      if (++calls <= 2) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
      await queues.addDeferredStt(job);
    });
    expect(calls).toBe(3);
    // 0.5 s, then 1 s apart (doubling from 500 ms).
    expect((calledAt[1] as number) - (calledAt[0] as number)).toBeGreaterThanOrEqual(490);
    expect((calledAt[2] as number) - (calledAt[1] as number)).toBeGreaterThanOrEqual(990);
    const job = await queues.deferredStt.getJob(jobIds.deferredStt(meetingId, segmentId('alice', 0)));
    expect(job?.data).toMatchObject({ meetingId, segmentId: segmentId('alice', 0), language: 'fr' });
    const retries = lines.filter((l) => l.msg === 'queue deferred speech-to-text failed; retrying');
    expect(retries.map((l) => l.attempt)).toEqual([1, 2]);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  }, 30_000);

  it('does not retry a programming error: says at once, loudly, that the utterance is lost', async () => {
    const meetingId = `spool-bug-${randomUUID().slice(0, 8)}`;
    let calls = 0;
    const lines = await spoolOne(meetingId, async () => {
      calls++;
      throw new TypeError("Cannot read properties of undefined (reading 'add')");
    });
    expect(calls).toBe(1);
    const lost = lines.filter((l) => l.level >= 50);
    expect(lost).toMatchObject([{ msg: 'queue deferred speech-to-text failed for good: utterance lost', attempt: 1 }]);
    expect(await queues.deferredStt.getJob(jobIds.deferredStt(meetingId, segmentId('alice', 0)))).toBeUndefined();
  }, 30_000);
});
