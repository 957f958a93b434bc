/**
 * Hundreds of random and malformed requests (seeded, so a failure replays): whatever a client
 * sends, the API answers with a clear 4xx (or a success), never a 500, and keeps serving.
 */
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { call, hostToken, SERVICE_KEY, uniqueRoom, useTestApi } from './helpers.js';

const services = inject('services');
let room: string;
let host: string;

const { api } = useTestApi({
  overrides: {
    rateLimits: {
      service: { max: 100_000, windowSeconds: 60 },
      host: { max: 100_000, windowSeconds: 60 },
      failedAuth: { max: 100_000, windowSeconds: 60 },
    },
  },
});

beforeAll(async () => {
  room = uniqueRoom('fuzz');
  await api.rooms.createRoom({ name: room, emptyTimeout: 120 });
  host = await hostToken(services, room);
});


/** mulberry32: small, fast, seedable. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof rng>;

const NASTY_STRINGS = ['', ' ', 'fr', 'FR', 'fra', 'a'.repeat(5000), '\u0000', '\u202e', 'é', '🙂', '<script>', '../../etc/passwd', '%00', 'null', '__proto__', 'a@b', 'x@example.fr', 'not-an-email', '\n', '${jndi:x}'];

function randomString(r: Rng): string {
  if (r.next() < 0.4) return r.pick(NASTY_STRINGS);
  const len = r.pick([0, 1, 3, 20, 120, 300]);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCodePoint(r.pick([r.int(128), 0x20 + r.int(95), 0xe9, 0x1f600, r.int(0xd7ff)]));
  return s;
}

function randomJson(r: Rng, depth = 0): unknown {
  const kind = r.int(depth > 3 ? 5 : 8);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick([0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2]);
    case 3:
    case 4:
      return randomString(r);
    case 5:
      return Array.from({ length: r.pick(depth === 0 ? [0, 1, 3, 250] : [0, 1, 3]) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const keys = ['language', 'glossary', 'recipients', 'requester', 'identity', 'email', 'constructor', '__proto__', 'meetingId', randomString(r)];
      for (let i = r.int(5); i > 0; i--) o[r.pick(keys)] = randomJson(r, depth + 1);
      return o;
    }
  }
}

/** A start body that is nearly right: one field wrong at a time reaches the validator. */
function almostValidBody(r: Rng): unknown {
  const body: Record<string, unknown> = { language: 'fr', glossary: ['LiveKit'], recipients: [] };
  const field = r.pick(['language', 'glossary', 'recipients', 'requester', 'extra']);
  body[field === 'extra' ? randomString(r) || 'x' : field] = randomJson(r);
  return body;
}

function randomPath(r: Rng): string {
  const seg = () => (r.next() < 0.5 ? encodeURIComponent(randomString(r)) : randomString(r).replace(/[?#]/g, ''));
  if (r.next() < 0.45) return `/v1/rooms/${encodeURIComponent(room)}/transcription`;
  return r.pick([
    () => `/v1/rooms/${seg()}/transcription`,
    () => `/v1/meetings/${seg()}`,
    () => `/v1/meetings/${r.pick(['', '..', '%2e%2e', 'a'.repeat(101), 'm-1', '%00'])}`,
    () => '/v1/livekit/webhook',
    () => `/${seg()}`,
    () => `/v1/rooms/${seg()}/transcription?x=${seg()}`,
  ])();
}

function randomAuth(r: Rng): string | undefined {
  if (r.next() < 0.5) return r.pick([`Bearer ${SERVICE_KEY}`, `Bearer ${host}`]);
  return r.pick([undefined, undefined, 'Bearer', 'Bearer  ', `Bearer ${randomString(r)}`, `Basic ${randomString(r)}`, `bearer ${host}x`, `Bearer a.b.c`, `Bearer ${host.split('.').slice(0, 2).join('.')}.`]);
}

describe('malformed requests', () => {
  it('never answers 500 and keeps serving, over 600 seeded random requests', async () => {
    const r = rng(20_240_611);
    const statuses = new Map<number, number>();
    const codes = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const method = r.pick(['GET', 'POST', 'POST', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'] as const);
      const url = randomPath(r);
      const auth = randomAuth(r);
      const contentType = r.pick(['application/json', 'application/json', 'application/webhook+json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8', undefined]);
      const payload = r.pick([
        () => JSON.stringify(almostValidBody(r)),
        () => JSON.stringify(randomJson(r)),
        () => '{"language": "fr",',
        () => '',
        () => randomString(r),
        () => 'null',
        () => '{"__proto__": {"admin": true}, "language": "fr"}',
      ])();
      const headers: Record<string, string> = {};
      if (auth !== undefined) headers.authorization = auth;
      if (contentType) headers['content-type'] = contentType;
      let res;
      try {
        res = await api.app.inject({ method, url, headers, ...(method === 'GET' || method === 'OPTIONS' ? {} : { payload }) });
      } catch (e) {
        // light-my-request refuses some invalid URLs or headers itself: not our server's doing.
        if (e instanceof TypeError || (e as Error).message.includes('Invalid')) continue;
        throw e;
      }
      const where = `#${i} ${method} ${url.slice(0, 80)} auth=${auth?.slice(0, 20)} ct=${contentType} body=${payload.slice(0, 80)}`;
      expect(res.statusCode, where).toBeLessThan(500);
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 400) {
        const body = res.json<{ error?: unknown; message?: unknown }>();
        expect(typeof body.error, where).toBe('string');
        expect(typeof body.message, where).toBe('string');
        codes.set(body.error as string, (codes.get(body.error as string) ?? 0) + 1);
      }
    }
    // The run reached the validator and the authorisation checks, not only the 401 wall.
    expect(codes.get('invalid_request') ?? 0).toBeGreaterThan(20);
    expect(codes.get('missing_credentials') ?? 0).toBeGreaterThan(10);
    expect(codes.get('invalid_credentials') ?? 0).toBeGreaterThan(10);
    expect((statuses.get(200) ?? 0) + (statuses.get(201) ?? 0)).toBeGreaterThan(0);

    const health = await call(api, 'GET', '/healthz');
    expect(health.status).toBe(200);
    // At most one agent was sent into the fuzzed room, whatever was thrown at it.
    const dispatches = (await api.dispatches.listDispatch(room)).filter((d) => d.agentName === api.agentName);
    expect(dispatches.length).toBeLessThanOrEqual(1);
  });

  it('refuses oversized bodies with 413', async () => {
    const res = await api.app.inject({
      method: 'POST',
      url: `/v1/rooms/${room}/transcription`,
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ glossary: Array.from({ length: 60_000 }, () => 'terme') }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'fst_err_ctp_body_too_large' });
  });

  it('lists every problem of a bad body', async () => {
    const res = await call(api, 'POST', `/v1/rooms/${room}/transcription`, {
      token: SERVICE_KEY,
      body: { language: 'french', glossary: ['', 'ok'], recipients: ['nobody'], colour: 'blue' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    const paths = (res.body.issues as { in: string; path: string }[]).map((i) => `${i.in}:${i.path}`).sort();
    expect(paths).toEqual(['body:(root)', 'body:glossary.0', 'body:language', 'body:recipients.0']);
  });

  it('refuses a bad parameter or a JSON null body with the same 400, but a bad credential first', async () => {
    const badId = await call(api, 'GET', `/v1/meetings/${'a'.repeat(101)}`, { token: SERVICE_KEY });
    expect(badId.status).toBe(400);
    expect(badId.body).toEqual({
      error: 'invalid_request',
      message: 'Invalid params: id: letters, digits, "-" and "_" only, at most 100',
      issues: [{ in: 'params', path: 'id', message: 'letters, digits, "-" and "_" only, at most 100' }],
    });
    const nullBody = await api.app.inject({
      method: 'POST',
      url: `/v1/rooms/${room}/transcription`,
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      payload: 'null',
    });
    expect(nullBody.statusCode).toBe(400);
    expect(nullBody.json()).toMatchObject({ error: 'invalid_request', issues: [{ in: 'body', path: '(root)' }] });
    const forged = await call(api, 'GET', `/v1/meetings/${'a'.repeat(101)}`, { token: 'not-a-key' });
    expect(forged.status).toBe(401);
  });
});
