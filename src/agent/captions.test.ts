import type { Room } from '@livekit/rtc-node';
import { describe, expect, it } from 'vitest';
import { CAPTION_ATTR, TOPIC } from '../meeting/livekit-contract.js';
import { sendCaption } from './captions.js';

/** A connected room whose local participant records the text streams it opens (what LiveKit would carry). */
function recordingRoom() {
  const streams: { options: { topic?: string; senderIdentity?: string; attributes?: Record<string, string> }; written: string[]; closed: boolean }[] = [];
  const room = {
    isConnected: true,
    localParticipant: {
      streamText: async (options: (typeof streams)[number]['options']) => {
        const s = { options, written: [] as string[], closed: false };
        streams.push(s);
        return { write: async (t: string) => void s.written.push(t), close: async () => void (s.closed = true) };
      },
    },
  } as unknown as Room;
  return { room, streams };
}

describe('sendCaption', () => {
  const target = { participant: { identity: 'alice' }, trackSid: 'TR_alice', segmentId: 'alice-7' };

  it('publishes an interim then its final as two whole streams on lk.transcription, on behalf of the speaker, under one segment id', async () => {
    const { room, streams } = recordingRoom();
    await sendCaption(room, target, 'Bonjour.', false);
    await sendCaption(room, target, 'Bonjour. Je pense que le budget est prêt.');
    expect(streams.map((s) => [s.options.topic, s.options.senderIdentity, s.options.attributes, s.written.join(''), s.closed])).toEqual([
      [TOPIC.captions, 'alice', { [CAPTION_ATTR.trackId]: 'TR_alice', [CAPTION_ATTR.segmentId]: 'alice-7', [CAPTION_ATTR.final]: 'false' }, 'Bonjour.', true],
      [TOPIC.captions, 'alice', { [CAPTION_ATTR.trackId]: 'TR_alice', [CAPTION_ATTR.segmentId]: 'alice-7', [CAPTION_ATTR.final]: 'true' }, 'Bonjour. Je pense que le budget est prêt.', true],
    ]);
    expect([TOPIC.captions, CAPTION_ATTR.final, CAPTION_ATTR.segmentId, CAPTION_ATTR.trackId]).toEqual(['lk.transcription', 'lk.transcription_final', 'lk.segment_id', 'lk.transcribed_track_id']);
  });

  it('sends nothing once the room is left', async () => {
    const { room, streams } = recordingRoom();
    (room as { isConnected: boolean }).isConnected = false;
    await sendCaption(room, target, 'Bonjour.', false);
    expect(streams).toEqual([]);
  });
});
