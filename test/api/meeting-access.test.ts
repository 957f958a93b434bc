/**
 * Who may read and erase a meeting, when LiveKit reuses room names: authority follows the room
 * instance (sid) the meeting ran in, not the name. Real LiveKit (rooms really closed and reopened),
 * Redis and MinIO.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { call, hostToken, SERVICE_KEY, startTestApi, uniqueRoom, useTestApi, waitFor } from './helpers.js';

const services = inject('services');

const { api, stt } = useTestApi();

const token = (room: string, identity: string, roomAdmin = true) => hostToken(services, room, { roomAdmin }, {}, identity);

/** Opens the room (a new instance when the name was used before) and returns its sid. */
async function openRoom(room: string): Promise<string> {
  const created = await api.rooms.createRoom({ name: room, emptyTimeout: 120 });
  return created.sid;
}

/** Closes the room; LiveKit forgets the instance. */
async function closeRoom(room: string): Promise<void> {
  await api.rooms.deleteRoom(room);
  await waitFor('the room to close', () => api.rooms.listRooms([room]), (r) => r.length === 0);
}

/** A host starts a transcription in the room; the pipeline then makes it `done` with two artefacts. */
async function finishedMeeting(room: string, requester: string): Promise<string> {
  const started = await call(api, 'POST', `/v1/rooms/${encodeURIComponent(room)}/transcription`, { token: await token(room, requester) });
  expect(started.status).toBe(201);
  const meetingId = started.body.meetingId as string;
  await api.artefacts.store(meetingId, { 'transcript.vtt': 'WEBVTT\n', 'minutes.md': '# Compte rendu\n' });
  await api.store.update(meetingId, (m) => ({ ...m, status: 'done', startedAt: m.createdAt, endedAt: new Date().toISOString(), endReason: 'host_stop' }));
  return meetingId;
}

async function objectsOf(meetingId: string): Promise<number> {
  const s3 = createS3Client(services);
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: api.bucket, Prefix: `meetings/${meetingId}/` }));
    return listed.KeyCount ?? 0;
  } finally {
    s3.destroy();
  }
}

describe('a reused room name gives no authority over an earlier meeting', () => {
  it('the host of the reopened room gets 404 on the old meeting and sees the room idle; the backend still reads it', async () => {
    const room = uniqueRoom('reused');
    const first = await openRoom(room);
    const meetingId = await finishedMeeting(room, 'host-alice');
    expect((await api.store.get(meetingId))?.roomSid).toBe(first);

    await closeRoom(room);
    const second = await openRoom(room);
    expect(second).not.toBe(first);

    const stored = await objectsOf(meetingId);
    expect(stored).toBeGreaterThanOrEqual(2);
    const bob = await token(room, 'host-bob');
    const read = await call(api, 'GET', `/v1/meetings/${meetingId}`, { token: bob });
    expect(read.status).toBe(404);
    expect(read.body.error).toBe('meeting_not_found');
    expect(JSON.stringify(read.body)).not.toContain('https://'); // no presigned link leaks
    const erase = await call(api, 'DELETE', `/v1/meetings/${meetingId}`, { token: bob });
    expect(erase.status).toBe(404);
    // Nothing was erased.
    expect(await api.store.get(meetingId)).not.toBeNull();
    expect(await objectsOf(meetingId)).toBe(stored);

    // The new instance's room is idle for its host and its guests: the old meeting id is not shown.
    const state = await call(api, 'GET', `/v1/rooms/${encodeURIComponent(room)}/transcription`, { token: bob });
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ room, state: 'idle', meetingId: null });
    const guest = await call(api, 'GET', `/v1/rooms/${encodeURIComponent(room)}/transcription`, { token: await token(room, 'guest-1', false) });
    expect(guest.body).toMatchObject({ state: 'idle', meetingId: null });
    // Stopping "the room's transcription" does not reach the old meeting either.
    expect((await call(api, 'DELETE', `/v1/rooms/${encodeURIComponent(room)}/transcription`, { token: bob })).status).toBe(404);

    const backend = await call(api, 'GET', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY });
    expect(backend.status).toBe(200);
    expect(backend.body).toMatchObject({ meetingId, room, state: 'done' });
    expect((backend.body.artifacts as unknown[]).length).toBe(2);
  });

  it('each reader the README names: the backend always, the requester always, a host of the same instance while it is open', async () => {
    const room = uniqueRoom('readers');
    await openRoom(room);
    const meetingId = await finishedMeeting(room, 'host-alice');
    const path = `/v1/meetings/${meetingId}`;
    const alice = await token(room, 'host-alice');
    const carol = await token(room, 'cohost-carol');
    const dave = await token(room, 'participant-dave', false);

    // While the instance the meeting ran in is open.
    expect((await call(api, 'GET', path, { token: alice })).status).toBe(200);
    expect((await call(api, 'GET', path, { token: carol })).status).toBe(200);
    const participant = await call(api, 'GET', path, { token: dave });
    expect(participant.status).toBe(403);
    expect(participant.body.error).toBe('not_room_admin');
    // The requester's identity with a token for another room is nobody here.
    expect((await call(api, 'GET', path, { token: await token(uniqueRoom('elsewhere'), 'host-alice') })).status).toBe(404);
    // The requester's identity without roomAdmin is not a host.
    expect((await call(api, 'GET', path, { token: await token(room, 'host-alice', false) })).status).toBe(403);

    // Once the room has closed: the co-host's authority ended with the instance; the requester's did not.
    await closeRoom(room);
    expect((await call(api, 'GET', path, { token: carol })).status).toBe(404);
    expect((await call(api, 'DELETE', path, { token: carol })).status).toBe(404);
    const own = await call(api, 'GET', path, { token: alice });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ meetingId, state: 'done' });
    expect((await call(api, 'GET', path, { token: SERVICE_KEY })).status).toBe(200);

    // The requester may erase it, even with the room reopened by someone else.
    await openRoom(room);
    expect((await call(api, 'DELETE', path, { token: alice })).status).toBe(204);
    expect(await api.store.get(meetingId)).toBeNull();
    expect(await objectsOf(meetingId)).toBe(0);
  });

  it('a meeting left running by a closed instance (webhook lost) neither blocks nor answers for the new instance', async () => {
    const room = uniqueRoom('stale');
    await openRoom(room);
    const alice = await token(room, 'host-alice');
    const started = await call(api, 'POST', `/v1/rooms/${encodeURIComponent(room)}/transcription`, { token: alice });
    const old = started.body.meetingId as string;
    await api.store.update(old, (m) => ({ ...m, status: 'active', startedAt: new Date().toISOString() }));

    // The room closes and LiveKit's room_finished never reaches us; the name is opened again.
    await closeRoom(room);
    const second = await openRoom(room);
    const bob = await token(room, 'host-bob');
    const path = `/v1/rooms/${encodeURIComponent(room)}/transcription`;
    expect((await call(api, 'GET', path, { token: bob })).body).toMatchObject({ state: 'idle', meetingId: null });

    // The new host starts: a new meeting of the new instance, not "already running" with the old one.
    const restarted = await call(api, 'POST', path, { token: bob });
    expect(restarted.status).toBe(201);
    const fresh = restarted.body.meetingId as string;
    expect(fresh).not.toBe(old);
    expect((await api.store.get(fresh))?.roomSid).toBe(second);
    // The old meeting is over and queued for its minutes, as if the webhook had come.
    expect(await api.store.get(old)).toMatchObject({ endReason: 'room_finished' });

    // Bob's stop ends his meeting only; the old one stays Alice's (and the backend's) to read.
    expect((await call(api, 'DELETE', path, { token: bob })).body).toMatchObject({ meetingId: fresh });
    expect((await call(api, 'GET', `/v1/meetings/${old}`, { token: bob })).status).toBe(404);
    expect((await call(api, 'GET', `/v1/meetings/${fresh}`, { token: bob })).status).toBe(200);
    expect((await call(api, 'GET', `/v1/meetings/${old}`, { token: alice })).status).toBe(200);
  });

  it('when LiveKit cannot say which instance is open, a host who is not the requester is refused (503), never let in', async () => {
    const down = await startTestApi(services, {
      sttBaseUrl: stt.url,
      livekit: { url: `ws://127.0.0.1:${await freeTcpPort()}`, apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET },
    });
    try {
      const room = uniqueRoom('blind');
      const meetingId = `blind-${Date.now()}`;
      await down.store.create({ meetingId, room, roomSid: 'RM_earlier', language: 'fr', requester: { identity: 'host-alice', email: null }, glossary: [], status: 'failed' });
      const bob = await call(down, 'GET', `/v1/meetings/${meetingId}`, { token: await token(room, 'host-bob') });
      expect(bob.status).toBe(503);
      expect(bob.body.error).toBe('livekit_unavailable');
      expect((await call(down, 'DELETE', `/v1/meetings/${meetingId}`, { token: await token(room, 'host-bob') })).status).toBe(503);
      expect(await down.store.get(meetingId)).not.toBeNull();
      // The requester needs no answer from LiveKit.
      expect((await call(down, 'GET', `/v1/meetings/${meetingId}`, { token: await token(room, 'host-alice') })).status).toBe(200);
      expect((await call(down, 'GET', `/v1/rooms/${room}/transcription`, { token: await token(room, 'host-bob') })).status).toBe(503);
    } finally {
      await down.close();
    }
  });
});
