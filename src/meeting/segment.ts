/**
 * A transcript segment: one utterance of one participant, as the live agent (or the recording mode)
 * produced it. This is the record queued in BullMQ and stored per meeting; its id is deterministic
 * (meeting, participant, sequence), so a retried upload or a re-dispatched agent never doubles a line.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const ParticipantRefSchema = z.object({
  identity: z.string().min(1).max(256),
  name: z.string().max(256),
});
export type ParticipantRef = z.infer<typeof ParticipantRefSchema>;

export const FilteredSpeechSchema = z.object({
  reason: z.enum(['hallucination', 'no_speech', 'repetition']),
  /** How many recognised segments were dropped for this reason. */
  count: z.number().int().positive(),
});

export const TranscriptSegmentSchema = z.object({
  meetingId: z.string().min(1),
  /** `<participantKey>-<sequence>`; see segmentId(). */
  segmentId: z.string().regex(/^[A-Za-z0-9_-]+$/),
  participant: ParticipantRefSchema,
  /** Per participant, starting at 0, in speaking order. */
  sequence: z.number().int().nonnegative(),
  trackSid: z.string().nullable(),
  /** Milliseconds since the meeting started (the agent's clock). */
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  /** Wall-clock time of startMs, ISO 8601. */
  startedAt: z.string().datetime(),
  text: z.string(),
  language: z.string(),
  /** 0..1 from the provider's log-probabilities when it gives them. */
  confidence: z.number().min(0).max(1).nullable(),
  provider: z.string(),
  model: z.string(),
  /** What the hallucination filter removed; the text is not kept (it was not said). */
  filtered: z.array(FilteredSpeechSchema).default([]),
  /** True when the audio went through the spool because speech-to-text was down or slow. */
  deferred: z.boolean().default(false),
});
export type TranscriptSegment = z.infer<typeof TranscriptSegmentSchema>;

/** Key safe for BullMQ job ids (no ':'), stable for one participant identity, not reversible. */
export function participantKey(identity: string): string {
  return createHash('sha256').update(identity).digest('base64url').slice(0, 12);
}

export function segmentId(identity: string, sequence: number): string {
  return `${participantKey(identity)}-${String(sequence).padStart(5, '0')}`;
}
