/**
 * Per-participant utterance sequence numbers of a meeting, kept in Redis so that a re-dispatched
 * agent (or a second one after a crash) continues the numbering instead of reusing ids. The final
 * counts are what the finaliser waits for.
 */
import type { Redis } from 'ioredis';
import { participantKey } from '../meeting/segment.js';

// Erased and expired with the rest of the meeting by MeetingStore (same key layout).
export const sequenceKey = (meetingId: string) => `meeting-agent:meeting:${meetingId}:sequences`;

export class SequenceCounter {
  constructor(
    private readonly redis: Redis,
    private readonly meetingId: string,
  ) {}

  /** The next sequence number (0, 1, 2...) of this participant in this meeting. */
  async next(identity: string): Promise<number> {
    return (await this.redis.hincrby(sequenceKey(this.meetingId), participantKey(identity), 1)) - 1;
  }

  /** Utterances cut so far, per participant key, across every agent of this meeting. */
  async counts(): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(sequenceKey(this.meetingId));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }
}
