/**
 * What the agent, the API and the webhook handler put on the queues. Job ids are deterministic, so
 * the same utterance or the same end event enqueued twice is one job.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EndReason } from '../../meeting/meeting-events.js';
import type { MeetingStore } from '../../meeting/meeting-store.js';
import type { TranscriptSegment } from '../../meeting/segment.js';
import { DeferredSttJobSchema, jobIds, openQueue, QUEUE, SegmentJobSchema, type DeferredSttJob } from './queues.js';

export class MeetingQueues {
  readonly segments: Queue;
  readonly deferredStt: Queue;
  readonly finalize: Queue;

  constructor(connection: Redis) {
    this.segments = openQueue(QUEUE.segments, connection);
    this.deferredStt = openQueue(QUEUE.deferredStt, connection);
    this.finalize = openQueue(QUEUE.finalize, connection);
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
