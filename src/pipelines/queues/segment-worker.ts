/** transcript-segments → MeetingStore. Idempotent: a segment id is stored once (HSETNX). */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createLogger } from '../../logging.js';
import { segmentsTotal } from '../../metrics.js';
import type { MeetingStateStore, MeetingStore } from '../../meeting/meeting-store.js';
import { QUEUE, SegmentJobSchema } from './queues.js';
import { crashSafeOptions, type CrashSafety } from './worker-runtime.js';

const log = createLogger('segment-worker');

export async function persistSegment(store: Pick<MeetingStateStore, 'addSegment'>, job: Pick<Job, 'data' | 'id'>): Promise<{ stored: boolean }> {
  const segment = SegmentJobSchema.parse(job.data);
  const stored = await store.addSegment(segment);
  if (stored) segmentsTotal.inc({ outcome: segment.text.trim() === '' ? 'empty' : segment.deferred ? 'deferred' : 'live' });
  log.debug({ jobId: job.id, meetingId: segment.meetingId, segmentId: segment.segmentId, stored }, 'segment persisted');
  return { stored };
}

export function startSegmentWorker(connection: Redis, store: MeetingStore, crash: CrashSafety, concurrency = 16): Worker {
  return new Worker(QUEUE.segments, (job) => persistSegment(store, job), { connection, concurrency, ...crashSafeOptions(crash) });
}
