import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createRedisConnection } from './redis-connection.js';
import { segmentId, type TranscriptSegment } from './segment.js';
import { MeetingStore } from './meeting-store.js';
import { roomKeys } from './redis-keys.js';

const redis = createRedisConnection(inject('services').REDIS_URL);
const store = new MeetingStore(redis, { retentionDays: 30 });
afterAll(() => redis.disconnect());

function segment(meetingId: string, identity: string, sequence: number, startMs: number, text: string): TranscriptSegment {
  return {
    meetingId, segmentId: segmentId(identity, sequence), participant: { identity, name: identity.toUpperCase() },
    sequence, trackSid: 'TR_x', startMs, endMs: startMs + 1000, startedAt: new Date().toISOString(), text,
    language: 'fr', confidence: 0.9, provider: 'openai-compatible', model: 'whisper', filtered: [], deferred: false,
  };
}

describe('MeetingStore (real Redis)', () => {
  it('keeps one copy of a segment however often it is written, and returns them in time order', async () => {
    const id = `m-${randomUUID()}`;
    await store.create({ meetingId: id, room: 'salle', language: 'fr', requester: null, glossary: [] });
    expect(await store.addSegment(segment(id, 'bob', 0, 5000, 'deuxième'))).toBe(true);
    expect(await store.addSegment(segment(id, 'alice', 0, 1000, 'première'))).toBe(true);
    expect(await store.addSegment(segment(id, 'alice', 0, 1000, 'première (retry)'))).toBe(false);
    const texts = (await store.segments(id)).map((s) => s.text);
    expect(texts).toEqual(['première', 'deuxième']);
  });

  it('records the first end reason and merges segment counts from later end events', async () => {
    const id = `m-${randomUUID()}`;
    await store.create({ meetingId: id, room: 'salle', language: 'fr', requester: null, glossary: [] });
    await store.markEnded(id, 'host_stop', { a: 3 });
    const info = await store.markEnded(id, 'room_finished', { a: 2, b: 1 });
    expect(info.endReason).toBe('host_stop');
    expect(info.segmentCounts).toEqual({ a: 3, b: 1 });
  });

  it('lets only one meeting hold a room, and erases everything on request', async () => {
    const room = `room-${randomUUID()}`;
    const [first, second] = [`m-${randomUUID()}`, `m-${randomUUID()}`];
    expect(await store.claimRoom(room, first)).toBe(first);
    expect(await store.claimRoom(room, second)).toBe(first);
    await store.create({ meetingId: first, room, language: 'fr', requester: null, glossary: [] });
    await store.upsertParticipant(first, { identity: 'alice', name: 'Alice', email: 'alice@mairie.fr', optedOut: false });
    await store.addSegment(segment(first, 'alice', 0, 0, 'bonjour'));
    expect(await store.erase(first)).toBe(4); // info, participants, segments and the room claim
    expect(await store.get(first)).toBeNull();
    expect(await store.segments(first)).toEqual([]);
    expect(await store.currentMeetingOfRoom(room)).toBeNull();
  });

  it('takes a room over from a holder the caller says is over, and only then', async () => {
    const room = `room-${randomUUID()}`;
    const [stale, live, next] = [`m-${randomUUID()}`, `m-${randomUUID()}`, `m-${randomUUID()}`];
    expect(await store.claimRoom(room, stale)).toBe(stale);
    const asked: string[] = [];
    expect(await store.claimRoom(room, live, async (holder) => (asked.push(holder), true))).toBe(live);
    expect(asked).toEqual([stale]);
    expect(await store.currentMeetingOfRoom(room)).toBe(live);
    expect(await store.claimRoom(room, next, async () => false)).toBe(live);
    // Releasing on behalf of a meeting that no longer holds the room leaves the holder's claim.
    await store.releaseRoom(room, stale);
    expect(await store.currentMeetingOfRoom(room)).toBe(live);
    expect(await redis.ttl(roomKeys.claim(room))).toBeGreaterThan(0);
  });

  it('rejects a malformed segment instead of storing it', async () => {
    const bad = { ...segment('m-x', 'alice', 0, 0, 'x'), startMs: -5 };
    await expect(store.addSegment(bad)).rejects.toThrow(/startMs/);
  });
});
