/**
 * Runs the control plane against the test LiveKit, Redis and MinIO (real services), with a fake
 * speech-to-text that only needs to answer the probe, and mints the credentials tests present.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import { AccessToken, AgentDispatchClient, RoomServiceClient, type VideoGrant } from 'livekit-server-sdk';
import { afterAll, beforeAll, inject } from 'vitest';
import type { ServicesEnv } from '../global-setup.js';
import { openApiResources, type ApiResources } from '../../src/api/resources.js';
import { buildApi, type ApiDeps } from '../../src/api/server.js';
import { createLogger } from '../../src/logging.js';
import { CachedSttProbe } from '../../src/api/stt-probe.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { openQueue, QUEUE } from '../../src/pipelines/queues/queues.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';

export const SERVICE_KEY = `svc-${randomUUID()}`;
export const OTHER_SERVICE_KEY = `svc-${randomUUID()}`;

export const httpUrl = (wsUrl: string) => wsUrl.replace(/^ws/, 'http');

/** An OpenAI-compatible server that answers GET /v1/models (all the probe asks). */
export async function startFakeStt(): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'whisper-large-v3', object: 'model' }] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, requests: () => count, close: () => new Promise((r) => server.close(() => r())) };
}

export interface TestApi {
  app: ReturnType<typeof buildApi>;
  /** Base URL once listening (real HTTP). */
  url: string;
  agentName: string;
  bucket: string;
  /** The storage module the pipeline writes artefacts with. */
  artefacts: ApiResources['artefacts'];
  store: ApiResources['store'];
  redis: ReturnType<typeof createRedisConnection>;
  finalizeQueue: Queue;
  segmentsQueue: Queue;
  dispatches: AgentDispatchClient;
  rooms: RoomServiceClient;
  /** Every log line the API wrote (JSON). */
  logs: string[];
  close(): Promise<void>;
}

export interface TestApiOptions {
  sttBaseUrl: string;
  livekit?: { url: string; apiKey: string; apiSecret: string };
  port?: number;
  overrides?: Partial<ApiDeps>;
}

export async function startTestApi(services: ServicesEnv, options: TestApiOptions): Promise<TestApi> {
  const lk = options.livekit ?? { url: services.LIVEKIT_URL, apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const agentName = `api-test-${randomUUID().slice(0, 8)}`;
  const bucket = `api-test-${randomUUID().slice(0, 8)}`;
  const resources = openApiResources({
    ...services,
    RETENTION_DAYS: 1,
    S3_BUCKET: bucket,
    S3_PREFIX: 'meetings/',
    LINK_EXPIRY_HOURS: 1,
    LIVEKIT_URL: lk.url,
    LIVEKIT_API_KEY: lk.apiKey,
    LIVEKIT_API_SECRET: lk.apiSecret,
    AGENT_NAME: agentName,
  });
  const { redis, queues, s3 } = resources;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  // The production logger (redaction, error serializer), into memory so tests can read it.
  const logger = createLogger('api', 'info', sink);
  const config = {
    LIVEKIT_API_KEY: lk.apiKey,
    LIVEKIT_API_SECRET: lk.apiSecret,
    API_SERVICE_KEYS: `${SERVICE_KEY}, ${OTHER_SERVICE_KEY}`,
    STT_LANGUAGE: 'fr',
  };
  const app = buildApi({
    config,
    ...resources,
    // The real speech-to-text client (its probe), pointed at the fake server.
    stt: new CachedSttProbe(
      createSpeechToText({ STT_PROVIDER: 'openai-compatible', STT_BASE_URL: options.sttBaseUrl, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 2, STT_TIMEOUT_MS: 2_000 }),
      { timeoutMs: 2_000 },
    ),
    readiness: { redis: resources.readiness.redis, livekit: resources.readiness.livekit },
    logger,
    stopGraceMs: 300,
    // Every test API counts on its own (they all call from 127.0.0.1), unless a test shares one.
    rateLimitNamespace: `test:${agentName}:rate-limit:`,
    ...options.overrides,
  });
  const url = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const finalizeQueue = openQueue(QUEUE.finalize, redis);
  return {
    app,
    url,
    agentName,
    bucket,
    artefacts: resources.artefacts,
    store: resources.store,
    redis,
    finalizeQueue,
    segmentsQueue: queues.segments,
    dispatches: new AgentDispatchClient(httpUrl(lk.url), lk.apiKey, lk.apiSecret),
    rooms: new RoomServiceClient(httpUrl(lk.url), lk.apiKey, lk.apiSecret),
    logs,
    async close() {
      await app.close();
      await finalizeQueue.close();
      await resources.close();
    },
  };
}

export type FakeStt = Awaited<ReturnType<typeof startFakeStt>>;

/**
 * The rig of a test file: a fake speech-to-text and a test API on it, started before the file's
 * tests and closed after them. `options` may be a function, run once the fake is up (to start what
 * the API needs first). The two returned objects stand for the started ones: read them inside tests
 * and hooks, not at the top level of the file.
 */
export function useTestApi(options: Omit<TestApiOptions, 'sttBaseUrl'> | (() => Promise<Omit<TestApiOptions, 'sttBaseUrl'>>) = {}): { api: TestApi; stt: FakeStt } {
  let api: TestApi | undefined;
  let stt: FakeStt | undefined;
  beforeAll(async () => {
    stt = await startFakeStt();
    const rest = typeof options === 'function' ? await options() : options;
    api = await startTestApi(inject('services'), { ...rest, sttBaseUrl: stt.url });
  });
  afterAll(async () => {
    await api?.close();
    await stt?.close();
  });
  return { api: standIn(() => api, 'the test API'), stt: standIn(() => stt, 'the fake speech-to-text') };
}

/** An object that forwards every property to what `current` returns (once it is there). */
function standIn<T extends object>(current: () => T | undefined, what: string): T {
  return new Proxy({} as T, {
    get(_target, key) {
      const target = current();
      if (!target) throw new Error(`${what} is used before it was started (beforeAll)`);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export async function hostToken(
  services: Pick<ServicesEnv, 'LIVEKIT_API_KEY' | 'LIVEKIT_API_SECRET'>,
  room: string,
  grant: Partial<VideoGrant> = { roomAdmin: true },
  attributes: Record<string, string> = {},
  identity = 'host-alice',
): Promise<string> {
  const at = new AccessToken(services.LIVEKIT_API_KEY, services.LIVEKIT_API_SECRET, { identity, name: 'Alice', ttl: '10m', attributes });
  at.addGrant({ roomJoin: true, room, ...grant });
  return at.toJwt();
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** An HS256 JWT signed by hand: for tokens the SDK will not mint (expired, wrong key). */
export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Signs a webhook body exactly as LiveKit does: a JWT from the API key carrying the body's SHA-256. */
export function signWebhook(body: string, apiKey: string, apiSecret: string): string {
  const now = Math.floor(Date.now() / 1000);
  const sha256 = createHash('sha256').update(body).digest('base64');
  return signJwt({ iss: apiKey, nbf: now - 5, exp: now + 300, sha256 }, apiSecret);
}

export async function call(
  api: Pick<TestApi, 'url'>,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** This test's agent dispatches in a room (LiveKit's own list, not ours). */
export async function agentDispatches(api: TestApi, room: string) {
  const all = await api.dispatches.listDispatch(room).catch(() => []);
  return all.filter((d) => d.agentName === api.agentName);
}

export const uniqueRoom = (tag: string) => `${tag}-${randomUUID().slice(0, 8)}`;

export async function waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

/** `meeting-agent <role> [args]` as operators run it: a child process configured by `env` alone. */
export function spawnRole(role: string, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', role, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => output };
}

/** `meeting-agent api` on loopback. */
export const spawnApi = (env: Record<string, string>) => spawnRole('api', ['--host', '127.0.0.1'], env);
