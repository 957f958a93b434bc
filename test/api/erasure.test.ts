/**
 * Erasure through the API (issue 12, kind 4d/4e): a meeting being finalised is refused and left
 * whole; once over, DELETE leaves no key naming it, the API's own and the agent's included; and a
 * DELETE that removed anything answers 204, even when the meeting's state itself had already
 * expired. Real LiveKit (dispatch), Redis and MinIO.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { meetingKeys, roomKeys } from '../../src/meeting/redis-keys.js';
import { SentMarkers } from '../../src/pipelines/email/mailer.js';
import { jobIds } from '../../src/pipelines/queues/queue-names.js';
import { call, hostToken, SERVICE_KEY, startFakeStt, startTestApi, uniqueRoom, type TestApi } from './helpers.js';

const services = inject('services');
let api: TestApi;
let stt: Awaited<ReturnType<typeof startFakeStt>>;

beforeAll(async () => {
  stt = await startFakeStt();
  api = await startTestApi(services, { sttBaseUrl: stt.url });
});

afterAll(async () => {
  await api?.close();
  await stt?.close();
});

async function keysNaming(redis: Redis, meetingId: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${meetingId}*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/** Starts a transcription in a fresh room (the dispatch goes to an agent name nobody serves) and stops it. */
async function startedAndStopped(tag: string): Promise<{ room: string; meetingId: string }> {
  const room = uniqueRoom(tag);
  await api.rooms.createRoom({ name: room, emptyTimeout: 120 });
  const host = await hostToken(services, room, { roomAdmin: true });
  const started = await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: host });
  expect(started.status).toBe(201);
  const stopped = await call(api, 'DELETE', `/v1/rooms/${room}/transcription`, { token: host });
  expect(stopped.status).toBe(202);
  return { room, meetingId: started.body.meetingId as string };
}

describe('DELETE /v1/meetings/:id', () => {
  it('refuses a meeting being finalised and leaves it whole; once it is done, no key names it', async () => {
    const { room, meetingId } = await startedAndStopped('erase-finalising');
    expect((await call(api, 'GET', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY })).body.state).toBe('finalising');
    const before = await keysNaming(api.redis, meetingId);
    // The stop left its request, the API its bookkeeping, the queue a finalisation job.
    expect(before).toEqual(expect.arrayContaining([meetingKeys.info(meetingId), meetingKeys.stopRequested(meetingId), meetingKeys.api(meetingId)]));
    expect(before.some((k) => k.includes(jobIds.finalize(meetingId)))).toBe(true);

    const refused = await call(api, 'DELETE', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('meeting_in_progress');
    expect(await keysNaming(api.redis, meetingId)).toEqual(before);

    // The pipeline finishes (its job is taken off the queue as a worker would); then erasure takes everything.
    await api.finalizeQueue.remove(jobIds.finalize(meetingId));
    await api.store.update(meetingId, (m) => ({ ...m, status: 'done' }));
    await new SentMarkers(api.redis, 3600).markSent(meetingId, 'abc', '<m@x>');
    expect((await call(api, 'DELETE', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY })).status).toBe(204);
    expect(await keysNaming(api.redis, meetingId)).toEqual([]);
    expect(await api.redis.get(roomKeys.lastMeeting(room))).toBeNull();
    expect(await api.redis.get(roomKeys.claim(room))).toBeNull();
  });

  it('answers 204 when it removed leftovers of a meeting whose state had already expired, then 404', async () => {
    const { meetingId } = await startedAndStopped('erase-leftovers');
    await api.finalizeQueue.remove(jobIds.finalize(meetingId));
    await new SentMarkers(api.redis, 3600).markSent(meetingId, 'abc', '<m@x>');
    // The meeting's own record expired first; the API's bookkeeping, the stop request and a marker are left.
    await api.redis.del(meetingKeys.info(meetingId));
    expect((await keysNaming(api.redis, meetingId)).length).toBeGreaterThanOrEqual(3);

    const erased = await call(api, 'DELETE', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY });
    expect(erased.status).toBe(204);
    expect(await keysNaming(api.redis, meetingId)).toEqual([]);
    expect((await call(api, 'DELETE', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY })).status).toBe(404);
    expect((await call(api, 'DELETE', `/v1/meetings/never-${randomUUID()}`, { token: SERVICE_KEY })).status).toBe(404);
  });
});
