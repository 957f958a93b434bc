/**
 * The BullMQ queues, the one place they are spelled: names, job payload schemas, job ids, job
 * options (retries, backoff, how long finished jobs are kept) and the construction of `Queue`s
 * (`openQueue`, `openAllQueues`). The contract between the live agent (producer), the API and
 * webhooks (producers), and the pipeline workers (consumers). Each queue has its own worker and
 * rate limit, so a slow Mistral never holds up speech-to-text.
 */
import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { RecipientSchema } from '../email/recipients.js';
import { EndReasonSchema } from '../../meeting/meeting-events.js';
import { TranscriptSegmentSchema } from '../../meeting/segment.js';

export const QUEUE = {
  /** Finished utterances, persisted into the meeting store. */
  segments: 'transcript-segments',
  /** Utterances whose audio was spooled because speech-to-text failed; transcribed later. */
  deferredStt: 'stt-deferred',
  /** One job per meeting: waits for every segment, then minutes, storage and emails. */
  finalize: 'meeting-finalize',
  /** One job per recipient and meeting. */
  email: 'minutes-email',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

export const SegmentJobSchema = TranscriptSegmentSchema;

/** An utterance without its text yet: the segment's identity and timing, plus where its audio waits. */
export const DeferredSttJobSchema = TranscriptSegmentSchema.pick({
  meetingId: true,
  segmentId: true,
  participant: true,
  sequence: true,
  trackSid: true,
  startMs: true,
  endMs: true,
  startedAt: true,
  language: true,
}).extend({
  prompt: z.string().nullable(),
  /** S3 key of the spooled FLAC (16 kHz mono), under the meeting's prefix. */
  audioKey: z.string(),
});
export type DeferredSttJob = z.infer<typeof DeferredSttJobSchema>;

export const FinalizeJobSchema = z.object({
  meetingId: z.string(),
  reason: EndReasonSchema,
});
export type FinalizeJob = z.infer<typeof FinalizeJobSchema>;

/** minutes-email: one recipient of one meeting's minutes. */
export const EmailJobSchema = z.object({
  meetingId: z.string(),
  recipient: RecipientSchema,
  recipientKey: z.string().regex(/^[A-Za-z0-9_-]+$/),
});
export type EmailJob = z.infer<typeof EmailJobSchema>;

/** BullMQ job ids may not contain ':' nor be integers; ours are prefixed words joined by '_'. */
export const jobIds = {
  segment: (meetingId: string, segmentId: string) => `seg_${meetingId}_${segmentId}`,
  deferredStt: (meetingId: string, segmentId: string) => `stt_${meetingId}_${segmentId}`,
  finalize: (meetingId: string) => `fin_${meetingId}`,
  email: (meetingId: string, recipientKey: string) => `mail_${meetingId}_${recipientKey}`,
};

/**
 * Whether `jobId` is one of the meeting's, with nothing but the id to go by (BullMQ's event
 * streams keep ids after the job is gone). Exact, since a meeting id may itself contain "_": a
 * segment id is `<12-character participant key>-<sequence>` (src/meeting/segment.ts), a recipient
 * key 16 characters (src/pipelines/email/recipients.ts).
 */
export function isMeetingJobId(jobId: string, meetingId: string): boolean {
  const id = meetingId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(?:(?:seg|stt)_${id}_[A-Za-z0-9_-]{12}-\\d{5,}|fin_${id}|mail_${id}_[A-Za-z0-9_-]{16})$`).test(jobId);
}

// Completed jobs are kept a day so that their ids keep deduplicating late duplicates
// (BullMQ forgets an id once the job is removed); failed ones a week, for operators.
const KEEP = { removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };
const RETRY = { attempts: 8, backoff: { type: 'exponential' as const, delay: 1000 } };

/**
 * Deferred speech-to-text: the service may be down for a while, so keep trying for about an hour,
 * then the job fails and an operator looks (the audio stays in the spool, tagged for retention).
 * BullMQ's exponential backoff waits `delay * 2^(n-1)` before retry n: 1.75 s, 3.5 s, ... 29.9 min;
 * 11 retries add up to 1750 * (2^11 - 1) ms = 59.7 min (`retryScheduleMs`). (It was 20 attempts
 * from 2 s: 2^19 s, about twelve days, past the retention of a short RETENTION_DAYS.)
 */
export const DEFERRED_STT_RETRY = { attempts: 12, backoff: { type: 'exponential' as const, delay: 1_750 } };

/**
 * minutes-email: 10 attempts from 5 s (about 42 min in all). Kept a week: the id keeps
 * deduplicating a late duplicate; the sent marker covers the rest. The inline pipeline of
 * recordings follows the same retry policy (inline-pipeline.ts EMAIL_RETRY).
 */
export const EMAIL_JOB_OPTIONS = {
  attempts: 10,
  backoff: { type: 'exponential' as const, delay: 5_000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 14 * 24 * 3600 },
};

/** Each queue's default job options, applied by every `Queue` opened here. */
export const JOB_OPTIONS: Record<QueueName, DefaultJobOptions> = {
  [QUEUE.segments]: { ...KEEP, ...RETRY },
  [QUEUE.deferredStt]: { ...KEEP, ...DEFERRED_STT_RETRY },
  [QUEUE.finalize]: { ...KEEP, ...RETRY },
  [QUEUE.email]: EMAIL_JOB_OPTIONS,
};

/**
 * The waits, in ms, before each retry of a job with these options, as BullMQ's exponential backoff
 * computes them without jitter (bullmq/dist/esm/classes/backoffs.js: round(2^(attemptsMade-1) * delay)).
 */
export function retryScheduleMs(options: { attempts: number; backoff: { type: 'exponential'; delay: number } }): number[] {
  return Array.from({ length: options.attempts - 1 }, (_, i) => Math.round(2 ** i * options.backoff.delay));
}

/** A BullMQ queue of ours on `connection`, with that queue's default job options. The caller closes it. */
export function openQueue(name: QueueName, connection: Redis): Queue {
  return new Queue(name, { connection, defaultJobOptions: JOB_OPTIONS[name] });
}

export interface AllQueues {
  segments: Queue;
  deferredStt: Queue;
  finalize: Queue;
  email: Queue;
}

/** Every queue, keyed as QUEUE is; `closeQueues` closes them. */
export function openAllQueues(connection: Redis): AllQueues {
  return {
    segments: openQueue(QUEUE.segments, connection),
    deferredStt: openQueue(QUEUE.deferredStt, connection),
    finalize: openQueue(QUEUE.finalize, connection),
    email: openQueue(QUEUE.email, connection),
  };
}

export async function closeQueues(queues: AllQueues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
