/**
 * Live captions: one LiveKit transcription text stream per final utterance, sent on behalf of the
 * speaker, so standard LiveKit clients show who said what under the right tile.
 */
import type { Room } from '@livekit/rtc-node';
import type { Utterance } from './utterance-processor.js';

/** LiveKit's topic for transcriptions, which its client SDKs render as captions. */
export const CAPTION_TOPIC = 'lk.transcription';

export async function sendCaption(room: Room, u: Utterance, text: string): Promise<void> {
  const local = room.localParticipant;
  if (!local || !room.isConnected) return;
  const writer = await local.streamText({
    topic: CAPTION_TOPIC,
    senderIdentity: u.participant.identity,
    attributes: {
      'lk.transcribed_track_id': u.trackSid ?? '',
      'lk.segment_id': u.segmentId,
      'lk.transcription_final': 'true',
    },
  });
  await writer.write(text);
  await writer.close();
}
