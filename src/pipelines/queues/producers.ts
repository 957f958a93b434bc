/**
 * What the agent, the API and the webhook handler put on the queues. Job ids are deterministic, so
 * the same utterance or the same end event enqueued twice is one job.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EndReason } from '../../meeting/meeting-events.js';
import type { MeetingStore } from '../../meeting/meeting-store.js';
import type { TranscriptSegment } from '../../meeting/segment.js';
import { DeferredSttJobSchema, jobIds, QUEUE, SegmentJobSchema, type DeferredSttJob } from './queue-names.js';

// Completed jobs are kept a day so that their ids keep deduplicating late duplicates
// (BullMQ forgets an id once the job is removed); failed ones a week, for operators.
const KEEP = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };
const RETRY = { attempts: 8, backoff: { type: 'exponential', delay: 1000 } };

/**
 * Deferred speech-to-text: the service may be down for a while, so keep trying for about an hour,
 * then the job fails and an operator looks (the audio stays in the spool, tagged for retention).
 * BullMQ's exponential backoff waits `delay * 2^(n-1)` before retry n: 1.75 s, 3.5 s, ... 29.9 min;
 * 11 retries add up to 1750 * (2^11 - 1) ms = 59.7 min (`retryScheduleMs`). (It was 20 attempts
 * from 2 s: 2^19 s, about twelve days, past the retention of a short RETENTION_DAYS.)
 */
export const DEFERRED_STT_RETRY = { attempts: 12, backoff: { type: 'exponential' as const, delay: 1_750 } };

/**
 * The waits, in ms, before each retry of a job with these options, as BullMQ's exponential backoff
 * computes them without jitter (bullmq/dist/esm/classes/backoffs.js: round(2^(attemptsMade-1) * delay)).
 */
export function retryScheduleMs(options: { attempts: number; backoff: { type: 'exponential'; delay: number } }): number[] {
  return Array.from({ length: options.attempts - 1 }, (_, i) => Math.round(2 ** i * options.backoff.delay));
}

export class MeetingQueues {
  readonly segments: Queue;
  readonly deferredStt: Queue;
  readonly finalize: Queue;

  constructor(connection: Redis) {
    this.segments = new Queue(QUEUE.segments, { connection, defaultJobOptions: { ...KEEP, ...RETRY } });
    this.deferredStt = new Queue(QUEUE.deferredStt, {
      connection,
      defaultJobOptions: { ...KEEP, ...DEFERRED_STT_RETRY },
    });
    this.finalize = new Queue(QUEUE.finalize, { connection, defaultJobOptions: { ...KEEP, ...RETRY } });
  }

  async addSegment(segment: TranscriptSegment): Promise<void> {
    const data = SegmentJobSchema.parse(segment);
    await this.segments.add('segment', data, { jobId: jobIds.segment(data.meetingId, data.segmentId) });
  }

  async addDeferredStt(job: DeferredSttJob): Promise<void> {
    const data = DeferredSttJobSchema.parse(job);
    await this.deferredStt.add('transcribe', data, { jobId: jobIds.deferredStt(data.meetingId, data.segmentId) });
  }

  /**
   * Records that the meeting ended and asks for its finalisation. Safe to call from every end
   * signal (agent, host stop, room_finished): the first reason wins and there is one job.
   */
  async endMeeting(store: MeetingStore, meetingId: string, reason: EndReason, segmentCounts?: Record<string, number>): Promise<void> {
    await store.markEnded(meetingId, reason, segmentCounts);
    await this.finalize.add('finalize', { meetingId, reason }, { jobId: jobIds.finalize(meetingId) });
  }

  async close(): Promise<void> {
    await Promise.all([this.segments.close(), this.deferredStt.close(), this.finalize.close()]);
  }
}
