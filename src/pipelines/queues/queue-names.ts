/**
 * The BullMQ queues and their job payloads: the contract between the live agent (producer), the
 * API and webhooks (producers), and the pipeline workers (consumers). Each queue has its own
 * worker and rate limit, so a slow Mistral never holds up speech-to-text.
 */
import { z } from 'zod';
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

/** BullMQ job ids may not contain ':' nor be integers; ours are prefixed words joined by '_'. */
export const jobIds = {
  segment: (meetingId: string, segmentId: string) => `seg_${meetingId}_${segmentId}`,
  deferredStt: (meetingId: string, segmentId: string) => `stt_${meetingId}_${segmentId}`,
  finalize: (meetingId: string) => `fin_${meetingId}`,
  email: (meetingId: string, recipientKey: string) => `mail_${meetingId}_${recipientKey}`,
};
