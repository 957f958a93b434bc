/**
 * The host presses "transcribe": real HTTP against the control plane, which dispatches through the
 * real LiveKit server and keeps its state in the real Redis.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { openApiText } from '../../src/api/openapi.js';
import { freeTcpPort } from '../../src/local/ports.js';
import { meetingKeys, roomKeys } from '../../src/meeting/redis-keys.js';
import { SentMarkers } from '../../src/pipelines/email/mailer.js';
import { jobIds } from '../../src/pipelines/queues/queues.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { agentDispatches, call, hostToken, OTHER_SERVICE_KEY, SERVICE_KEY, signJwt, startTestApi, uniqueRoom, useTestApi, waitFor } from './helpers.js';
import { parsePrometheus, sample } from './prometheus.js';

const services = inject('services');
const secrets: string[] = [SERVICE_KEY, OTHER_SERVICE_KEY];

const { api, stt } = useTestApi();

async function openRoom(tag: string): Promise<string> {
  const room = uniqueRoom(tag);
  await api.rooms.createRoom({ name: room, emptyTimeout: 120 });
  return room;
}

async function token(room: string, grant = { roomAdmin: true }, attributes: Record<string, string> = {}, identity = 'host-alice') {
  const t = await hostToken(services, room, grant, attributes, identity);
  secrets.push(t);
  return t;
}

describe('a host starts, reads and stops a transcription', () => {
  it('dispatches one agent, returns the same meeting when pressed twice, and finalises on stop', async () => {
    const room = await openRoom('standup');
    const host = await token(room, { roomAdmin: true }, { email: 'alice@example.fr' });
    const path = `/v1/rooms/${encodeURIComponent(room)}/transcription`;

    const before = await call(api, 'GET', path, { token: host });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ room, state: 'idle', meetingId: null });

    const started = await call(api, 'POST', path, { token: host, body: { language: 'fr', glossary: ['LiveKit', 'Scaleway'], recipients: ['Alice@example.fr'] } });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ room, state: 'starting', language: 'fr' });
    const meetingId = started.body.meetingId as string;
    expect(meetingId).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(started.headers.get('x-request-id')).toBeTruthy();

    // The dispatch reached LiveKit, carrying the contract's metadata.
    const dispatches = await agentDispatches(api, room);
    expect(dispatches).toHaveLength(1);
    expect(JSON.parse(dispatches[0]!.metadata)).toEqual({
      meetingId,
      language: 'fr',
      requester: { identity: 'host-alice', email: 'alice@example.fr' },
      glossary: ['LiveKit', 'Scaleway'],
    });
    const stored = await api.store.get(meetingId);
    expect(stored).toMatchObject({ room, status: 'starting', requester: { identity: 'host-alice', email: 'alice@example.fr' }, extraRecipients: [] });

    // Pressed again: the running transcription, no second agent.
    const again = await call(api, 'POST', path, { token: host, body: {} });
    expect(again.status).toBe(200);
    expect(again.body.meetingId).toBe(meetingId);
    expect(await agentDispatches(api, room)).toHaveLength(1);

    // The agent joins (src/agent marks the meeting active when it does).
    await api.store.update(meetingId, (m) => ({ ...m, status: 'active', startedAt: new Date().toISOString() }));
    expect((await call(api, 'GET', path, { token: host })).body).toMatchObject({ state: 'active', meetingId });

    // Stop: the agent hears it on Redis at once...
    const subscriber = createRedisConnection(services.REDIS_URL);
    const heard: string[] = [];
    subscriber.on('message', (channel: string) => heard.push(channel));
    await subscriber.subscribe(`meeting-agent:stop:${meetingId}`);
    const stopped = await call(api, 'DELETE', path, { token: host });
    expect(stopped.status).toBe(202);
    expect(stopped.body).toMatchObject({ state: 'finalising', meetingId, endReason: 'host_stop' });
    await waitFor('the stop message', async () => heard.length, (n) => n === 1);
    subscriber.disconnect();
    expect(await api.redis.exists(`meeting-agent:stop-requested:${meetingId}`)).toBe(1);

    // ...the meeting is queued for finalisation, and the dispatch is withdrawn after the grace period.
    expect((await api.store.get(meetingId))?.endReason).toBe('host_stop');
    const job = await api.finalizeQueue.getJob(jobIds.finalize(meetingId));
    expect(job?.data).toEqual({ meetingId, reason: 'host_stop' });
    await waitFor('the dispatch to be deleted', () => agentDispatches(api, room), (d) => d.length === 0);

    // Stopping again is harmless; the state stays readable.
    const twice = await call(api, 'DELETE', path, { token: host });
    expect(twice.status).toBe(200);
    expect(twice.body).toMatchObject({ state: 'finalising', meetingId });
    expect((await call(api, 'GET', path, { token: host })).body).toMatchObject({ state: 'finalising', meetingId });

    // Pressing "transcribe" after a stop starts a new meeting.
    const restarted = await call(api, 'POST', path, { token: host });
    expect(restarted.status).toBe(201);
    expect(restarted.body.meetingId).not.toBe(meetingId);
    expect(await agentDispatches(api, room)).toHaveLength(1);
  });

  it('concurrent starts make one meeting and one dispatch', async () => {
    const room = await openRoom('race');
    const results = await Promise.all(
      Array.from({ length: 6 }, () => call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY, body: { language: 'de' } })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(new Set(results.map((r) => r.body.meetingId)).size).toBe(1);
    expect(await agentDispatches(api, room)).toHaveLength(1);
  });

  it('a service key may add recipients and name the requester', async () => {
    const room = await openRoom('backend');
    const res = await call(api, 'POST', `/v1/rooms/${room}/transcription`, {
      token: SERVICE_KEY,
      body: { recipients: ['secretariat@example.fr', 'chef@example.fr'], requester: { identity: 'bob', email: 'bob@example.fr' } },
    });
    expect(res.status).toBe(201);
    const info = await api.store.get(res.body.meetingId as string);
    expect(info?.extraRecipients).toEqual(['secretariat@example.fr', 'chef@example.fr']);
    expect(info?.requester).toEqual({ identity: 'bob', email: 'bob@example.fr' });
    expect(info?.language).toBe('fr'); // the server default
  });

  it('refuses a room that is not open, and creates none', async () => {
    const room = uniqueRoom('nowhere');
    const res = await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('room_not_found');
    expect(await api.rooms.listRooms([room])).toHaveLength(0);
  });
});

describe('who may do what', () => {
  it('refuses bad credentials and non-hosts with the right status and body, and dispatches nothing', async () => {
    const room = await openRoom('guarded');
    const path = `/v1/rooms/${room}/transcription`;
    const now = Math.floor(Date.now() / 1000);
    const grant = { room, roomJoin: true, roomAdmin: true };
    const expired = signJwt({ iss: services.LIVEKIT_API_KEY, sub: 'host-alice', nbf: now - 600, exp: now - 60, video: grant }, services.LIVEKIT_API_SECRET);
    const forged = signJwt({ iss: services.LIVEKIT_API_KEY, sub: 'host-alice', nbf: now - 5, exp: now + 600, video: grant }, 'not-the-secret');
    const foreignKey = signJwt({ iss: 'someone-else', sub: 'host-alice', nbf: now - 5, exp: now + 600, video: grant }, services.LIVEKIT_API_SECRET);
    const noExp = signJwt({ iss: services.LIVEKIT_API_KEY, sub: 'host-alice', nbf: now - 5, video: grant }, services.LIVEKIT_API_SECRET);
    const otherRoom = await token(uniqueRoom('elsewhere'));
    const participant = await token(room, { roomAdmin: false }, {}, 'bob');
    const host = await token(room, { roomAdmin: true }, { email: 'alice@example.fr' });
    secrets.push(expired, forged, foreignKey, noExp);

    const cases: { name: string; headers?: Record<string, string>; token?: string; body?: unknown; status: number; error: string }[] = [
      { name: 'missing header', status: 401, error: 'missing_credentials' },
      { name: 'not bearer', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, status: 401, error: 'invalid_credentials' },
      { name: 'wrong service key', token: `${SERVICE_KEY}x`, status: 401, error: 'invalid_credentials' },
      { name: 'expired token', token: expired, status: 401, error: 'token_expired' },
      { name: 'wrong signature', token: forged, status: 401, error: 'invalid_credentials' },
      { name: 'another API key', token: foreignKey, status: 401, error: 'invalid_credentials' },
      { name: 'token without expiry', token: noExp, status: 401, error: 'invalid_credentials' },
      { name: 'token for another room', token: otherRoom, status: 403, error: 'wrong_room' },
      { name: 'participant without roomAdmin', token: participant, status: 403, error: 'not_room_admin' },
      { name: 'host adding a stranger', token: host, body: { recipients: ['mallory@example.com'] }, status: 403, error: 'recipients_not_allowed' },
      { name: 'host naming a requester', token: host, body: { requester: { email: 'mallory@example.com' } }, status: 403, error: 'requester_not_allowed' },
    ];
    for (const c of cases) {
      const res = await call(api, 'POST', path, { token: c.token, headers: c.headers, body: c.body });
      expect({ name: c.name, status: res.status, error: res.body.error }).toEqual({ name: c.name, status: c.status, error: c.error });
      expect(typeof res.body.message, c.name).toBe('string');
      if (c.status === 401) expect(res.headers.get('www-authenticate'), c.name).toMatch(/^Bearer/);
    }
    // Stopping is guarded the same way.
    expect((await call(api, 'DELETE', path, { token: participant })).status).toBe(403);
    expect((await call(api, 'DELETE', path, { token: otherRoom })).status).toBe(403);
    expect((await call(api, 'DELETE', path)).status).toBe(401);

    expect(await agentDispatches(api, room)).toHaveLength(0);
    expect(await api.store.currentMeetingOfRoom(room)).toBeNull();
    // A participant may see whether transcription is on (but not start it).
    const seen = await call(api, 'GET', path, { token: participant });
    expect(seen.status).toBe(200);
    expect(seen.body.state).toBe('idle');
    expect((await call(api, 'GET', path, { token: otherRoom })).status).toBe(403);
  });

  it('limits each caller to its own request rate', async () => {
    const limited = await startTestApi(services, {
      sttBaseUrl: stt.url,
      overrides: { rateLimits: { host: { max: 3, windowSeconds: 600 }, failedAuth: { max: 2, windowSeconds: 600 } } },
    });
    try {
      const room = uniqueRoom('busy');
      const alice = await token(room, { roomAdmin: false }, {}, 'alice');
      const bob = await token(room, { roomAdmin: false }, {}, 'bob');
      const path = `/v1/rooms/${room}/transcription`;
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await call(limited, 'GET', path, { token: alice })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await call(limited, 'GET', path, { token: alice });
      expect(refused.body.error).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await call(limited, 'GET', path, { token: bob })).status).toBe(200);
      // Guessing credentials is limited per address, even with a new guess each time.
      const guesses = [];
      for (let i = 0; i < 3; i++) guesses.push((await call(limited, 'GET', path, { token: `guess-${i}` })).status);
      expect(guesses).toEqual([401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('speech-to-text must answer before an agent is sent', () => {
  it('answers 503 with the reason when the endpoint is down, and dispatches nothing', async () => {
    // A port nobody listens on: connection refused, as when the provider is down.
    const down = await startTestApi(services, { sttBaseUrl: `http://127.0.0.1:${await freeTcpPort()}/v1` });
    try {
      const room = await openRoom('nostt');
      const res = await call(down, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('stt_unavailable');
      expect(res.body.message).toMatch(/speech-to-text.*unreachable.*ECONNREFUSED/);
      expect(res.body.message).not.toContain('127.0.0.1'); // endpoints are for the operator's log
      expect(res.headers.get('retry-after')).toBe('30');
      const all = await down.dispatches.listDispatch(room);
      expect(all.filter((d) => d.agentName === down.agentName)).toHaveLength(0);
      expect(await down.store.currentMeetingOfRoom(room)).toBeNull();
    } finally {
      await down.close();
    }
  });

  it('probes once for many starts (cached)', async () => {
    const before = stt.requests();
    for (let i = 0; i < 3; i++) {
      const room = await openRoom('cached');
      expect((await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY })).status).toBe(201);
    }
    expect(stt.requests() - before).toBeLessThanOrEqual(1);
  });
});

describe('meetings: links once done, erasure', () => {
  it('hands out presigned links to the deliverables once done, then erases everything', async () => {
    const room = await openRoom('minutes');
    const host = await token(room);
    const started = await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: host });
    const meetingId = started.body.meetingId as string;
    const path = `/v1/meetings/${meetingId}`;

    const running = await call(api, 'GET', path, { token: host });
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ meetingId, room, state: 'starting', artifacts: [] });
    expect((await call(api, 'DELETE', path, { token: host })).status).toBe(409);

    // Someone else's room, or a mere participant, sees nothing.
    expect((await call(api, 'GET', path, { token: await token(uniqueRoom('other')) })).status).toBe(404);
    expect((await call(api, 'GET', path, { token: await token(room, { roomAdmin: false }, {}, 'bob') })).status).toBe(403);

    // The pipeline stores the artefacts (src/storage) and marks the meeting done; spooled audio is left over.
    const s3 = createS3Client(services);
    await api.artefacts.store(meetingId, { 'transcript.vtt': 'WEBVTT\n', 'minutes.md': '# Compte rendu\n' });
    await s3.send(new PutObjectCommand({ Bucket: api.bucket, Key: `meetings/${meetingId}/audio-spool/seg.flac`, Body: 'fLaC' }));
    await api.store.update(meetingId, (m) => ({ ...m, status: 'done', endedAt: new Date().toISOString(), endReason: 'host_stop' }));

    const done = await call(api, 'GET', path, { token: host });
    expect(done.body.state).toBe('done');
    const links = done.body.artifacts as { name: string; url: string; size: number; contentType: string }[];
    expect(links.map((l) => [l.name, l.size])).toEqual([
      ['minutes.md', 15],
      ['transcript.vtt', 7],
    ]);
    expect(links[0]!.contentType).toMatch(/^text\/markdown/);
    const fetched = await fetch(links[0]!.url);
    expect(await fetched.text()).toBe('# Compte rendu\n');

    // A queued segment still carries transcript text (delayed, so no pipeline worker of another test takes it).
    const segment = {
      meetingId, segmentId: 'abc-00000', participant: { identity: 'alice', name: 'Alice' }, sequence: 0, trackSid: null, startMs: 0, endMs: 1000,
      startedAt: new Date().toISOString(), text: 'Bonjour à tous', language: 'fr', confidence: null, provider: 'test', model: 'test', filtered: [], deferred: false,
    };
    await api.segmentsQueue.add('segment', segment, { jobId: jobIds.segment(meetingId, segment.segmentId), delay: 3_600_000 });

    const erased = await call(api, 'DELETE', path, { token: SERVICE_KEY });
    expect(erased.status).toBe(204);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: api.bucket, Prefix: `meetings/${meetingId}/` }));
    expect(left.KeyCount ?? 0).toBe(0);
    expect(await api.store.get(meetingId)).toBeNull();
    expect(await api.segmentsQueue.getJob(jobIds.segment(meetingId, segment.segmentId))).toBeUndefined();
    expect((await call(api, 'GET', path, { token: SERVICE_KEY })).status).toBe(404);
    expect((await call(api, 'DELETE', path, { token: SERVICE_KEY })).status).toBe(404);
    await expect(s3.send(new GetObjectCommand({ Bucket: api.bucket, Key: `meetings/${meetingId}/minutes.md` }))).rejects.toThrow();
    s3.destroy();
  });
});

describe('operations', () => {
  it('serves health, readiness and Prometheus metrics that move when work happens', async () => {
    expect((await call(api, 'GET', '/healthz')).status).toBe(200);
    const ready = await call(api, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ ready: true, checks: { redis: 'ok', livekit: 'ok' } });

    const scrape = async () => parsePrometheus(await (await fetch(`${api.url}/metrics`)).text());
    const before = await scrape();
    const room = await openRoom('metrics');
    const res = await call(api, 'POST', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
    await api.store.update(res.body.meetingId as string, (m) => ({ ...m, status: 'active', startedAt: new Date().toISOString() }));
    await call(api, 'DELETE', `/v1/rooms/${room}/transcription`, { token: SERVICE_KEY });
    const after = await scrape();

    const starts = (m: typeof before) => sample(m, 'meeting_agent_transcription_starts_total', { outcome: 'dispatched' }) ?? 0;
    expect(starts(after) - starts(before)).toBe(1);
    expect((sample(after, 'meeting_agent_transcription_stops_total') ?? 0) - (sample(before, 'meeting_agent_transcription_stops_total') ?? 0)).toBe(1);
    const served = (m: typeof before) => sample(m, 'meeting_agent_http_requests_total', { method: 'POST', route: '/v1/rooms/:room/transcription', status: '201' }) ?? 0;
    expect(served(after)).toBeGreaterThan(served(before));
    for (const queue of ['transcript-segments', 'stt-deferred', 'meeting-finalize', 'minutes-email']) {
      expect(sample(after, 'meeting_agent_queue_jobs', { queue, state: 'waiting' }), queue).toBeTypeOf('number');
    }
    // Every metric the other roles will move is declared.
    for (const name of ['meeting_agent_transcriptions_active', 'meeting_agent_stt_latency_seconds', 'meeting_agent_stt_failures_total', 'meeting_agent_segments_total', 'meeting_agent_minutes_produced_total', 'meeting_agent_emails_sent_total']) {
      expect(after.types.has(name), name).toBe(true);
    }

    // The active gauge counts the meetings in the store that are being transcribed.
    const room2 = await openRoom('active');
    const started = await call(api, 'POST', `/v1/rooms/${room2}/transcription`, { token: SERVICE_KEY });
    const activeBefore = sample(await scrape(), 'meeting_agent_transcriptions_active') ?? 0;
    await api.store.update(started.body.meetingId as string, (m) => ({ ...m, status: 'active', startedAt: new Date().toISOString() }));
    expect(sample(await scrape(), 'meeting_agent_transcriptions_active')).toBe(activeBefore + 1);
  });

  it('answers 503 on /readyz when a dependency does not answer', async () => {
    const broken = await startTestApi(services, {
      sttBaseUrl: stt.url,
      overrides: { readiness: { redis: async () => 'PONG', s3: () => new Promise(() => undefined) }, readyTimeoutMs: 200 },
    });
    try {
      const res = await call(broken, 'GET', '/readyz');
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ ready: false, checks: { redis: 'ok', s3: 'unreachable: no answer within 200 ms' } });
    } finally {
      await broken.close();
    }
  });

  it('serves the committed OpenAPI document', async () => {
    // Generated from the routes' zod schemas; after changing them, regenerate with
    // `npx vitest run test/api/control-plane.test.ts -t OpenAPI -u` and review the diff.
    const served = await call(api, 'GET', '/openapi.json');
    expect(served.status).toBe(200);
    await expect(openApiText(served.body), 'openapi/openapi.json is stale').toMatchFileSnapshot('../../openapi/openapi.json');
    expect(served.body).toEqual(api.app.swagger());
  });

  it('logs every request with its id, and never a token, key, address or glossary term', async () => {
    const room = await openRoom('quiet');
    const host = await token(room, { roomAdmin: true }, { email: 'discreet@example.fr' });
    await call(api, 'POST', `/v1/rooms/${room}/transcription`, {
      token: host,
      body: { glossary: ['Projet Confidentiel'] },
      headers: { 'x-request-id': 'trace-abc-123' },
    });
    const lines = api.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.reqId === 'trace-abc-123')).toBe(true);
    const all = api.logs.join('\n');
    for (const s of secrets) expect(all.includes(s)).toBe(false);
    expect(all).not.toContain('discreet@example.fr');
    expect(all).not.toContain('Projet Confidentiel');
    // The logger redacts the header should anything log a request wholesale.
    api.app.log.info({ headers: { authorization: `Bearer ${SERVICE_KEY}` } }, 'probe');
    expect(api.logs.at(-1)).toContain('[redacted]');
    expect(api.logs.at(-1)).not.toContain(SERVICE_KEY);
  });
});

// Issue 12, kind 4d/4e: a meeting being finalised is refused and left whole; once over, no key names
// it (the API's own and the agent's included); a DELETE that removed anything answers 204.
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

describe('erasure through DELETE /v1/meetings/:id: nothing left, and the right status', () => {
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
