/**
 * Live captions: one LiveKit transcription text stream per caption, sent on behalf of the speaker,
 * so standard LiveKit clients show who said what under the right tile.
 *
 * A final caption (`lk.transcription_final=true`) per utterance; with INTERIM_CAPTIONS, interim
 * captions (`false`) of the utterance in progress before it, each a whole stream holding the text so
 * far under the same `lk.segment_id`, which the final then replaces. That is how agents-js publishes
 * a user's transcription (`voice/room_io/_output.ts`, `ParticipantTranscriptionOutput` without delta
 * streams: one stream per interim with final "false", then one with final "true", same segment id).
 */
import { CAPTION_ATTR, TOPIC } from '../meeting/livekit-contract.js';
import type { Room } from '@livekit/rtc-node';

/** Whose words a caption carries, and which utterance (segment) it shows. */
export interface CaptionTarget {
  participant: { identity: string };
  trackSid: string | null;
  segmentId: string;
}

/** Publishes `text` as the caption of `target`'s segment: final, or interim (replaced later). */
export async function sendCaption(room: Room, target: CaptionTarget, text: string, final = true): Promise<void> {
  const local = room.localParticipant;
  if (!local || !room.isConnected) return;
  const writer = await local.streamText({
    topic: TOPIC.captions,
    senderIdentity: target.participant.identity,
    attributes: {
      [CAPTION_ATTR.trackId]: target.trackSid ?? '',
      [CAPTION_ATTR.segmentId]: target.segmentId,
      [CAPTION_ATTR.final]: final ? 'true' : 'false',
    },
  });
  await writer.write(text);
  await writer.close();
}
