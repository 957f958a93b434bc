/**
 * Live captions: one LiveKit transcription text stream per final utterance, sent on behalf of the
 * speaker, so standard LiveKit clients show who said what under the right tile.
 */
import { CAPTION_ATTR, TOPIC } from '../meeting/livekit-contract.js';
import type { Room } from '@livekit/rtc-node';
import type { Utterance } from './utterance-processor.js';

export async function sendCaption(room: Room, u: Utterance, text: string): Promise<void> {
  const local = room.localParticipant;
  if (!local || !room.isConnected) return;
  const writer = await local.streamText({
    topic: TOPIC.captions,
    senderIdentity: u.participant.identity,
    attributes: {
      [CAPTION_ATTR.trackId]: u.trackSid ?? '',
      [CAPTION_ATTR.segmentId]: u.segmentId,
      [CAPTION_ATTR.final]: 'true',
    },
  });
  await writer.write(text);
  await writer.close();
}
