/**
 * Limits that stop a runaway or guessing client without locking out valid callers from the same
 * address, counted in the real Redis so that several API instances share them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { call, hostToken, SERVICE_KEY, spawnApi, startFakeStt, startTestApi, uniqueRoom, type TestApi } from './helpers.js';

const services = inject('services');
let stt: Awaited<ReturnType<typeof startFakeStt>>;

beforeAll(async () => {
  stt = await startFakeStt();
});

afterAll(async () => {
  await stt?.close();
});

const bad = (i: number) => `not-a-credential-${i}`;

/** Sends `n` requests with bad bearers; returns their statuses. */
async function badRequests(api: Pick<TestApi, 'url'>, path: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await call(api, 'GET', path, { token: bad(i), headers })).status);
  return statuses;
}

describe('bad credentials are throttled per address, valid ones never by them', () => {
  it('after 25 bad bearers from an address, a valid service key and host token from it get 200; bad ones keep getting 429', async () => {
    const api = await startTestApi(services, { sttBaseUrl: stt.url }); // the production limits
    try {
      const room = uniqueRoom('crowded');
      await api.rooms.createRoom({ name: room, emptyTimeout: 60 });
      const path = `/v1/rooms/${room}/transcription`;

      const statuses = await badRequests(api, path, 25);
      expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
      expect(statuses.slice(20)).toEqual(Array(5).fill(429));

      const service = await call(api, 'GET', path, { token: SERVICE_KEY });
      expect(service.status).toBe(200);
      const host = await call(api, 'GET', path, { token: await hostToken(services, room) });
      expect(host.status).toBe(200);
      expect(host.body).toMatchObject({ room, state: 'idle' });
      // Starting works too: the valid caller's own budget, not the address's.
      expect((await call(api, 'POST', path, { token: await hostToken(services, room) })).status).toBe(201);

      for (const token of [bad(99), 'Bearer', '']) {
        const refused = await call(api, 'GET', path, { token });
        expect(refused.status).toBe(429);
        expect(refused.body.error).toBe('rate_limited');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // No credential at all spends the same budget as a wrong one.
      expect((await call(api, 'GET', path)).status).toBe(429);
    } finally {
      await api.close();
    }
  });

  it('behind a trusted proxy each client address has its own budget; a forged X-Forwarded-For from elsewhere changes nothing', async () => {
    const proxied = await startTestApi(services, { sttBaseUrl: stt.url, overrides: { config: { ...baseConfig(), TRUSTED_PROXIES: ['127.0.0.1'] } } });
    const direct = await startTestApi(services, { sttBaseUrl: stt.url });
    try {
      const path = `/v1/rooms/${uniqueRoom('lb')}/transcription`;
      // Through the load balancer (127.0.0.1, trusted): one client guesses...
      const guesser = await badRequests(proxied, path, 21, { 'x-forwarded-for': '203.0.113.7' });
      expect(guesser.at(-1)).toBe(429);
      // ...and the others behind the same proxy are not refused for it.
      expect((await call(proxied, 'GET', path, { token: bad(0), headers: { 'x-forwarded-for': '203.0.113.8' } })).status).toBe(401);
      expect((await call(proxied, 'GET', path, { token: bad(0), headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.9' } })).status).toBe(401);
      // IPv6 clients are counted per /64 (one subscriber's addresses).
      const v6 = await badRequests(proxied, path, 21, { 'x-forwarded-for': '2001:db8:1:2::1' });
      expect(v6.at(-1)).toBe(429);
      expect((await call(proxied, 'GET', path, { token: bad(0), headers: { 'x-forwarded-for': '2001:db8:1:2::ffff' } })).status).toBe(429);
      expect((await call(proxied, 'GET', path, { token: bad(0), headers: { 'x-forwarded-for': '2001:db8:1:3::1' } })).status).toBe(401);

      // Without TRUSTED_PROXIES the header is the client's word: a new one per request dodges nothing.
      const forged = [];
      for (let i = 0; i < 21; i++) forged.push((await call(direct, 'GET', path, { token: bad(i), headers: { 'x-forwarded-for': `192.0.2.${i}` } })).status);
      expect(forged.at(-1)).toBe(429);
    } finally {
      await proxied.close();
      await direct.close();
    }
  });
});

function baseConfig() {
  return { LIVEKIT_API_KEY: services.LIVEKIT_API_KEY, LIVEKIT_API_SECRET: services.LIVEKIT_API_SECRET, API_SERVICE_KEYS: SERVICE_KEY, STT_LANGUAGE: 'fr' };
}

describe('limits hold across API instances (shared through Redis)', () => {
  it('two `meeting-agent api` processes count one budget per address and per host', { timeout: 150_000 }, async () => {
    // A database of its own in the test Redis, so only these two processes share the counters.
    const redisUrl = `${services.REDIS_URL.replace(/\/\d*$/, '')}/${7 + Math.floor(Math.random() * 8)}`;
    const ports = [await freeTcpPort(), await freeTcpPort()];
    const env = (port: number) => ({
      ...services,
      REDIS_URL: redisUrl,
      S3_BUCKET: 'api-rate-limit-test',
      STT_BASE_URL: stt.url,
      API_PORT: String(port),
      API_SERVICE_KEYS: SERVICE_KEY,
      LOG_LEVEL: 'warn',
    });
    const procs = ports.map((port) => spawnApi(env(port)));
    try {
      const apis = ports.map((port) => ({ url: `http://127.0.0.1:${port}` }));
      for (const [i, api] of apis.entries()) {
        let up = false;
        for (let t = 0; t < 300 && !up; t++) {
          up = await fetch(`${api.url}/healthz`).then((r) => r.ok, () => false);
          if (!up) await new Promise((r) => setTimeout(r, 200));
        }
        expect(up, procs[i]!.output()).toBe(true);
      }
      const room = uniqueRoom(`shared-${randomUUID().slice(0, 4)}`);
      const path = `/v1/rooms/${room}/transcription`;
      // 20 bad credentials a minute per address (the production limit), alternating between instances.
      const statuses: number[] = [];
      for (let i = 0; i < 22; i++) statuses.push((await call(apis[i % 2]!, 'GET', path, { token: bad(i) })).status);
      expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
      expect(statuses.slice(20)).toEqual([429, 429]);
      // A host's 60 requests a minute are one budget too: 30 on each instance, then both refuse.
      const host = await hostToken(services, room, { roomAdmin: false }, {}, 'poller');
      const hostStatuses: number[] = [];
      for (let i = 0; i < 62; i++) hostStatuses.push((await call(apis[i % 2]!, 'GET', path, { token: host })).status);
      expect(hostStatuses.filter((s) => s === 200)).toHaveLength(60);
      expect(hostStatuses.slice(60)).toEqual([429, 429]);
      // Another host is not affected, on either instance.
      const other = await hostToken(services, room, { roomAdmin: false }, {}, 'other');
      expect((await call(apis[0]!, 'GET', path, { token: other })).status).toBe(200);
      expect((await call(apis[1]!, 'GET', path, { token: other })).status).toBe(200);
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
      await Promise.all(procs.map((p) => p.exited));
    }
  });
});
