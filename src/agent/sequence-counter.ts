/**
 * Per-participant utterance sequence numbers of a meeting, kept in Redis so that a re-dispatched
 * agent (or a second one after a crash) continues the numbering instead of reusing ids. The final
 * counts are what the finaliser waits for.
 */
import type { Redis } from 'ioredis';
import { meetingKeys } from '../meeting/redis-keys.js';
import { participantKey } from '../meeting/segment.js';

export class SequenceCounter {
  /** `ttlSeconds`: the meeting's retention (MeetingStore.ttlSeconds), set again on every count. */
  constructor(
    private readonly redis: Redis,
    private readonly meetingId: string,
    private readonly ttlSeconds: number,
  ) {}

  /** The next sequence number (0, 1, 2...) of this participant in this meeting. */
  async next(identity: string): Promise<number> {
    const key = meetingKeys.sequences(this.meetingId);
    const replies = await this.redis.multi().hincrby(key, participantKey(identity), 1).expire(key, this.ttlSeconds).exec();
    const [err, n] = replies?.[0] ?? [new Error('the sequence increment was discarded'), 0];
    if (err) throw err;
    return Number(n) - 1;
  }

  /** Utterances cut so far, per participant key, across every agent of this meeting. */
  async counts(): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(meetingKeys.sequences(this.meetingId));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
  }
}
