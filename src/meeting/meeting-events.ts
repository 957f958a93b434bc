/**
 * What happened to a meeting besides speech, kept beside the segments: who joined, who opted out,
 * and how it ended. The transcript records opt-outs so a reader knows why someone is silent.
 */
import { z } from 'zod';
import { ParticipantRefSchema } from './segment.js';

export const MeetingEventSchema = z.object({
  type: z.enum(['participant_joined', 'participant_left', 'opted_out', 'opted_in', 'transcription_paused', 'transcription_resumed']),
  participant: ParticipantRefSchema.nullable(),
  atMs: z.number().nonnegative(),
});
export type MeetingEvent = z.infer<typeof MeetingEventSchema>;

export const EndReasonSchema = z.enum([
  'host_stop',
  'room_finished',
  'last_participant_left',
  'max_duration',
  'agent_left',
  'recording_done',
]);
export type EndReason = z.infer<typeof EndReasonSchema>;
