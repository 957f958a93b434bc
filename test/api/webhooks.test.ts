/**
 * LiveKit's webhooks end meetings: a dedicated LiveKit server posts its real, signed webhooks to
 * the control plane; forged, altered, stale and replayed ones change nothing. A meeting's agent
 * that was lost (its process died) is dispatched again instead, within a bound.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { AccessToken } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServer } from '../../src/local/livekit-server.js';
import { freeTcpPort } from '../../src/local/ports.js';
import { joinAsListener, type ListenerBot } from '../../src/local/meeting-bot.js';
import { meetingKeys } from '../../src/meeting/redis-keys.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { jobIds } from '../../src/pipelines/queues/queues.js';
import { call, SERVICE_KEY, signWebhook, startTestApi, uniqueRoom, useTestApi, waitFor, type TestApi } from './helpers.js';
import { parsePrometheus, sample } from './prometheus.js';

let livekit: LiveKitServer;

// A LiveKit server of its own, that sends its webhooks to this file's API.
const { api, stt } = useTestApi(async () => {
  const port = await freeTcpPort();
  livekit = await startLiveKitServer({
    workDir: `.services/test/api-webhooks-${randomUUID().slice(0, 8)}`,
    webhookUrls: [`http://127.0.0.1:${port}/v1/livekit/webhook`],
  });
  // A lost agent is dispatched again twice per window here, then the meeting ends (default 3).
  return { port, livekit: { url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret }, overrides: { agentRecovery: { maxRedispatches: 2 } } };
});

const humans: ListenerBot[] = [];
afterAll(async () => {
  await Promise.all(humans.map((h) => h.disconnect().catch(() => undefined)));
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

function post(body: string, authorization?: string, to: Pick<TestApi, 'url'> = api) {
  return fetch(`${to.url}/v1/livekit/webhook`, {
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

/** A real participant (a human's client) in the room. */
async function humanIn(room: string): Promise<void> {
  humans.push(await joinAsListener({ url: livekit.url, room, identity: `human-${randomUUID().slice(0, 6)}`, name: 'Human', auth: { apiKey: livekit.apiKey, apiSecret: livekit.apiSecret } }));
}

/** LiveKit's participant_left for the meeting's agent, as 1.13.5 sends it (a killed process: CONNECTION_TIMEOUT). */
function agentLeft(m: { room: string; sid: string; meetingId: string }, disconnectReason: string, participantSid = `PA_${randomUUID().slice(0, 8)}`, to: Pick<TestApi, 'url'> = api) {
  const body = event({
    event: 'participant_left',
    room: { name: m.room, sid: m.sid },
    participant: { sid: participantSid, identity: `agent-AJ_${participantSid}`, kind: 'AGENT', state: 'DISCONNECTED', disconnectReason, attributes: { 'transcription.meeting_id': m.meetingId } },
  });
  return post(body, signWebhook(body, livekit.apiKey, livekit.apiSecret), to);
}

/** An agent participant announcing the meeting, as a re-dispatched agent that joined. */
async function agentBackIn(m: { room: string; meetingId: string }): Promise<void> {
  const identity = `agent-AJ_${randomUUID().slice(0, 6)}`;
  const token = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity, attributes: { 'transcription.meeting_id': m.meetingId } });
  token.kind = 'agent';
  token.addGrant({ roomJoin: true, room: m.room, canPublish: true, canSubscribe: true });
  humans.push(await joinAsListener({ url: livekit.url, room: m.room, identity, auth: { token: await token.toJwt() } }));
}

/**
 * The named agent dispatches LiveKit holds for the meeting's room (the start's, and any re-dispatch;
 * each test has rooms of its own). LiveKit lists a default one for unnamed agents too: not ours.
 */
async function dispatchesIn(room: string): Promise<number> {
  return (await api.dispatches.listDispatch(room)).filter((d) => d.agentName !== '').length;
}

async function recoveries(outcome: string): Promise<number> {
  return sample(parsePrometheus(await (await fetch(`${api.url}/metrics`)).text()), 'meeting_agent_agent_recoveries_total', { outcome }) ?? 0;
}

describe('a lost agent', () => {
  it('is dispatched again while people are in the room: the meeting keeps running; a late copy of the same loss changes nothing', async () => {
    const m = await activeMeeting('lost');
    await humanIn(m.room);
    expect(await dispatchesIn(m.room)).toBe(1);
    const before = await recoveries('redispatched');

    const res = await agentLeft(m, 'CONNECTION_TIMEOUT', 'PA_lost1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, action: 'agent_redispatched' });
    await unchanged(m.meetingId);
    expect((await call(api, 'GET', `/v1/rooms/${m.room}/transcription`, { token: SERVICE_KEY })).body).toMatchObject({ meetingId: m.meetingId, state: 'active' });
    // The new dispatch carries the same meeting: the agent it brings continues it.
    const dispatches = (await api.dispatches.listDispatch(m.room)).filter((d) => d.agentName === api.agentName);
    expect(dispatches).toHaveLength(2);
    for (const d of dispatches) expect(JSON.parse(d.metadata)).toMatchObject({ meetingId: m.meetingId, language: 'fr' });
    expect(await recoveries('redispatched')).toBe(before + 1);
    expect(api.logs.some((l) => l.includes('agent lost: dispatched again') && l.includes(m.meetingId) && l.includes('CONNECTION_TIMEOUT'))).toBe(true);

    // The same loss reported again (another event id, delivered late): no second dispatch.
    const again = await agentLeft(m, 'CONNECTION_TIMEOUT', 'PA_lost1');
    expect(await again.json()).toEqual({ ok: true, action: 'ignored' });
    expect(await dispatchesIn(m.room)).toBe(2);
    await unchanged(m.meetingId);
  });

  it('reported late, once its meeting has an agent again, sends no other agent', async () => {
    const m = await activeMeeting('lost-late');
    await humanIn(m.room);
    await agentBackIn(m);
    const before = await recoveries('agent_present');
    expect(await (await agentLeft(m, 'CONNECTION_TIMEOUT', 'PA_earlier')).json()).toEqual({ ok: true, action: 'ignored' });
    expect(await dispatchesIn(m.room)).toBe(1);
    expect(await recoveries('agent_present')).toBe(before + 1);
    await unchanged(m.meetingId);
  });

  it('is dispatched again at most twice per window here; the next loss ends the meeting, with a log line and a metric saying why', async () => {
    const m = await activeMeeting('bound');
    await humanIn(m.room);
    const before = await recoveries('bound_reached');
    for (const n of [1, 2]) expect(await (await agentLeft(m, 'CONNECTION_TIMEOUT', `PA_crash${n}`)).json()).toEqual({ ok: true, action: 'agent_redispatched' });
    await unchanged(m.meetingId);
    expect(await (await agentLeft(m, 'CONNECTION_TIMEOUT', 'PA_crash3')).json()).toEqual({ ok: true, action: 'meeting_ended' });
    const info = await api.store.get(m.meetingId);
    expect(info?.endReason).toBe('agent_left');
    expect((await api.finalizeQueue.getJob(jobIds.finalize(m.meetingId)))?.data).toEqual({ meetingId: m.meetingId, reason: 'agent_left' });
    expect(await recoveries('bound_reached')).toBe(before + 1);
    expect(api.logs.some((l) => l.includes('agent lost once more than allowed') && l.includes(m.meetingId))).toBe(true);
    // The ended meeting's dispatches are cleared, so no agent comes back.
    await waitFor('the dispatches to be deleted', () => dispatchesIn(m.room), (n) => n === 0);
  });

  it('dispatched again but not back within the rejoin time (no worker took it) is dispatched once more, within the bound; one that is back is left alone', async () => {
    // An API instance of its own with a short rejoin time (the default is 30 s).
    const quick = await startTestApi(inject('services'), {
      sttBaseUrl: stt.url,
      livekit: { url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret },
      overrides: { agentRecovery: { maxRedispatches: 2, rejoinTimeoutMs: 700 } },
    });
    try {
      const unanswered = await activeMeeting('unanswered');
      await humanIn(unanswered.room);
      expect(await (await agentLeft(unanswered, 'CONNECTION_TIMEOUT', undefined, quick)).json()).toEqual({ ok: true, action: 'agent_redispatched' });
      // No worker here takes it: dispatched again after 0.7 s, then the bound ends the meeting.
      await waitFor('a second re-dispatch', () => dispatchesIn(unanswered.room), (n) => n >= 3, 10_000);
      const ended = await waitFor('the bound to end the meeting', () => api.store.get(unanswered.meetingId), (m) => m?.endedAt != null, 10_000);
      expect(ended?.endReason).toBe('agent_left');
      expect(quick.logs.some((l) => l.includes('agent lost once more than allowed') && l.includes(unanswered.meetingId))).toBe(true);

      const answered = await activeMeeting('answered');
      await humanIn(answered.room);
      expect(await (await agentLeft(answered, 'CONNECTION_TIMEOUT', undefined, quick)).json()).toEqual({ ok: true, action: 'agent_redispatched' });
      await agentBackIn(answered);
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await dispatchesIn(answered.room)).toBe(2);
      await unchanged(answered.meetingId);
    } finally {
      await quick.close();
    }
  });

  it('that left on its own, or was removed, ends the meeting as before', async () => {
    for (const reason of ['CLIENT_INITIATED', 'PARTICIPANT_REMOVED']) {
      const m = await activeMeeting(`left-${reason.toLowerCase().slice(0, 6)}`);
      await humanIn(m.room);
      expect(await (await agentLeft(m, reason)).json()).toEqual({ ok: true, action: 'meeting_ended' });
      expect((await api.store.get(m.meetingId))?.endReason, reason).toBe('agent_left');
      expect(await dispatchesIn(m.room)).toBeLessThanOrEqual(1);
    }
  });

  it('in a room no one is left in ends the meeting (last participant left); in a room that is gone, room finished', async () => {
    const empty = await activeMeeting('lost-empty');
    expect(await (await agentLeft(empty, 'CONNECTION_TIMEOUT')).json()).toEqual({ ok: true, action: 'meeting_ended' });
    expect((await api.store.get(empty.meetingId))?.endReason).toBe('last_participant_left');
    expect(await dispatchesIn(empty.room)).toBeLessThanOrEqual(1);

    const gone = await activeMeeting('lost-gone');
    await api.rooms.deleteRoom(gone.room);
    await agentLeft(gone, 'CONNECTION_TIMEOUT');
    const info = await waitFor('the meeting to end', () => api.store.get(gone.meetingId), (m) => m?.endedAt != null);
    expect(info?.endReason).toBe('room_finished');
  });

  it('while the host is stopping the meeting, or once it was erased, is not dispatched again', async () => {
    // The stop signal is written before the meeting is marked ended: a loss reported in between.
    const stopping = await activeMeeting('lost-stopping');
    await humanIn(stopping.room);
    await requestStop(api.redis, stopping.meetingId);
    expect(await (await agentLeft(stopping, 'CONNECTION_TIMEOUT')).json()).toEqual({ ok: true, action: 'ignored' });
    expect(await dispatchesIn(stopping.room)).toBe(1);

    // Stopped (after one recovery): the meeting ends with the host's reason, whatever LiveKit reports afterwards.
    const stopped = await activeMeeting('lost-stopped');
    await humanIn(stopped.room);
    expect(await (await agentLeft(stopped, 'CONNECTION_TIMEOUT')).json()).toEqual({ ok: true, action: 'agent_redispatched' });
    expect(await api.redis.exists(meetingKeys.recoveries(stopped.meetingId))).toBe(1);
    expect((await call(api, 'DELETE', `/v1/rooms/${stopped.room}/transcription`, { token: SERVICE_KEY })).status).toBe(202);
    expect(await (await agentLeft(stopped, 'CONNECTION_TIMEOUT')).json()).toEqual({ ok: true, action: 'ignored' });
    expect((await api.store.get(stopped.meetingId))?.endReason).toBe('host_stop');

    // Erased (after its end): nothing of it is recreated, no agent is sent.
    await waitFor('the stop to clear the dispatch', () => dispatchesIn(stopped.room), (n) => n === 0);
    await api.store.update(stopped.meetingId, (m) => ({ ...m, status: 'done' }));
    expect((await call(api, 'DELETE', `/v1/meetings/${stopped.meetingId}`, { token: SERVICE_KEY })).status).toBe(204);
    expect(await (await agentLeft(stopped, 'CONNECTION_TIMEOUT')).json()).toEqual({ ok: true, action: 'ignored' });
    expect(await dispatchesIn(stopped.room)).toBe(0);
    expect(await api.store.get(stopped.meetingId)).toBeNull();
    // The record of its recoveries went with it.
    expect(await api.redis.exists(meetingKeys.recoveries(stopped.meetingId))).toBe(0);
  });
});

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
