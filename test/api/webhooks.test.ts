/**
 * LiveKit's webhooks end meetings: a dedicated LiveKit server posts its real, signed webhooks to
 * the control plane; forged, altered, stale and replayed ones change nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startLiveKitServer, type LiveKitServer } from '../../src/local/livekit-server.js';
import { freeTcpPort } from '../../src/local/ports.js';
import { jobIds } from '../../src/pipelines/queues/queues.js';
import { call, SERVICE_KEY, signWebhook, uniqueRoom, useTestApi, waitFor } from './helpers.js';
import { parsePrometheus, sample } from './prometheus.js';

let livekit: LiveKitServer;

// A LiveKit server of its own, that sends its webhooks to this file's API.
const { api } = useTestApi(async () => {
  const port = await freeTcpPort();
  livekit = await startLiveKitServer({
    workDir: `.services/test/api-webhooks-${randomUUID().slice(0, 8)}`,
    webhookUrls: [`http://127.0.0.1:${port}/v1/livekit/webhook`],
  });
  return { port, livekit: { url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret } };
});

afterAll(async () => {
  await livekit?.stop();
});

/** A room with a meeting whose agent has joined. */
async function activeMeeting(tag: string): Promise<{ room: string; sid: string; meetingId: string }> {
  const room = uniqueRoom(tag);
  const created = await api.rooms.createRoom({ name: room, emptyTimeout: 300 });
  const res = await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
  expect(res.status).toBe(201);
  const meetingId = res.body.meetingId as string;
  await api.store.update(meetingId, (m) => ({ ...m, status: 'active', startedAt: new Date().toISOString() }));
  return { room, sid: created.sid, meetingId };
}

function post(body: string, authorization?: string) {
  return fetch(`${api.url}/v1/livekit/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/webhook+json', ...(authorization ? { authorization } : {}) },
    body,
  });
}

const event = (fields: Record<string, unknown>) =>
  JSON.stringify({ id: `EV_${randomUUID().replace(/-/g, '').slice(0, 12)}`, createdAt: String(Math.floor(Date.now() / 1000)), ...fields });

async function unchanged(meetingId: string) {
  const info = await api.store.get(meetingId);
  expect(info?.endedAt).toBeNull();
  expect(info?.status).toBe('active');
  expect(await api.finalizeQueue.getJob(jobIds.finalize(meetingId))).toBeUndefined();
}

describe('LiveKit webhooks', () => {
  it('a room closing on the real LiveKit server finalises its meeting', async () => {
    const { room, meetingId } = await activeMeeting('closing');
    await api.rooms.deleteRoom(room);

    const info = await waitFor('room_finished to end the meeting', () => api.store.get(meetingId), (m) => m?.endReason === 'room_finished');
    expect(info?.endedAt).not.toBeNull();
    const job = await api.finalizeQueue.getJob(jobIds.finalize(meetingId));
    expect(job?.data).toEqual({ meetingId, reason: 'room_finished' });
    expect(await api.store.currentMeetingOfRoom(room)).toBeNull();
    const meeting = await call(api, 'GET', `/v1/meetings/${meetingId}`, { token: SERVICE_KEY });
    expect(meeting.body).toMatchObject({ state: 'finalising', meetingId, endReason: 'room_finished' });
    // The room's state is its open instance's: none is open any more.
    const state = await call(api, 'GET', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
    expect(state.body).toMatchObject({ state: 'idle', meetingId: null });

    const metrics = parsePrometheus(await (await fetch(`${api.url}/metrics`)).text());
    expect(sample(metrics, 'meeting_agent_webhooks_total', { event: 'room_finished', outcome: 'processed' })).toBeGreaterThanOrEqual(1);
  });

  it('forged, altered and unsigned webhooks get 401 and change nothing', async () => {
    const { room, sid, meetingId } = await activeMeeting('forged');
    const body = event({ event: 'room_finished', room: { name: room, sid } });

    const forged = await post(body, signWebhook(body, livekit.apiKey, 'not-the-secret'));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ error: 'invalid_webhook' });

    const signedOther = signWebhook(event({ event: 'room_started', room: { name: room, sid } }), livekit.apiKey, livekit.apiSecret);
    const altered = await post(body, signedOther);
    expect(altered.status).toBe(401);

    expect((await post(body)).status).toBe(401);
    expect((await post('not json at all', signWebhook('not json at all', livekit.apiKey, livekit.apiSecret))).status).toBeLessThan(500);
    await unchanged(meetingId);
  });

  it('a room_finished of an earlier instance of the same room name, signed and fresh, leaves the newer meeting running', async () => {
    const { room, sid, meetingId } = await activeMeeting('reused-name');
    // Delivered late (LiveKit retries webhooks): the name's previous instance had another sid.
    const late = event({ event: 'room_finished', room: { name: room, sid: `RM_${randomUUID().replace(/-/g, '').slice(0, 12)}` } });
    const res = await post(late, signWebhook(late, livekit.apiKey, livekit.apiSecret));
    expect(res.status).toBeLessThan(300);
    await unchanged(meetingId);
    expect(await api.store.currentMeetingOfRoom(room)).toBe(meetingId);
    expect((await call(api, 'GET', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY })).body).toMatchObject({ meetingId, state: 'active' });
    // The same event for the open instance does end it.
    const own = event({ event: 'room_finished', room: { name: room, sid } });
    expect((await post(own, signWebhook(own, livekit.apiKey, livekit.apiSecret))).status).toBeLessThan(300);
    expect((await api.store.get(meetingId))?.endReason).toBe('room_finished');
  });

  it('the agent leaving finalises; the same webhook replayed, or a stale one, is refused', async () => {
    const { room, sid, meetingId } = await activeMeeting('agent-left');
    const left = (id: string) =>
      event({
        event: 'participant_left',
        room: { name: room, sid },
        participant: { sid: 'PA_agent', identity: 'agent-AJ_test', kind: 'AGENT', attributes: { 'transcription.meeting_id': id } },
      });

    // A participant_left of another meeting's agent (the attribute names a meeting of another room) is ignored.
    const other = await activeMeeting('other-room');
    const foreign = left(other.meetingId);
    const ignored = await post(foreign, signWebhook(foreign, livekit.apiKey, livekit.apiSecret));
    expect(ignored.status).toBe(200);
    expect(await ignored.json()).toEqual({ ok: true, action: 'ignored' });
    await unchanged(other.meetingId);

    // A stale event, correctly signed, is refused.
    const stale = JSON.stringify({ ...JSON.parse(left(meetingId)), createdAt: String(Math.floor(Date.now() / 1000) - 3600) });
    const old = await post(stale, signWebhook(stale, livekit.apiKey, livekit.apiSecret));
    expect(old.status).toBe(401);
    expect(await old.json()).toMatchObject({ error: 'webhook_expired' });
    await unchanged(meetingId);

    const body = left(meetingId);
    const auth = signWebhook(body, livekit.apiKey, livekit.apiSecret);
    const first = await post(body, auth);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ ok: true, action: 'meeting_ended' });
    const info = await api.store.get(meetingId);
    expect(info?.endReason).toBe('agent_left');
    expect((await api.finalizeQueue.getJob(jobIds.finalize(meetingId)))?.data).toEqual({ meetingId, reason: 'agent_left' });

    // Replayed: refused, and the meeting keeps its first end.
    const replay = await post(body, auth);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'webhook_replayed' });
    expect((await api.store.get(meetingId))?.endedAt).toBe(info?.endedAt);
  });

  it('a participant (not the agent) leaving changes nothing', async () => {
    const { room, sid, meetingId } = await activeMeeting('human-left');
    const body = event({
      event: 'participant_left',
      room: { name: room, sid },
      participant: { sid: 'PA_h', identity: 'alice', kind: 'STANDARD', attributes: { 'transcription.meeting_id': meetingId } },
    });
    const res = await post(body, signWebhook(body, livekit.apiKey, livekit.apiSecret));
    expect(res.status).toBe(200);
    await unchanged(meetingId);
  });
});
