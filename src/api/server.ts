/**
 * The HTTP control plane (Fastify): the routes, who may call them, and the plumbing every request
 * goes through (request id, JSON errors, rate limits, metrics). Each dependency is passed in, so
 * tests run it against the real LiveKit, Redis and S3 with their own settings.
 */
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import { fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { MeetingInfo } from '../meeting/meeting-store.js';
import { httpDuration, httpRequests, registry } from '../metrics.js';
import { Authenticator, requireMeetingAccess, requireRoomAdmin, requireRoomMember, type Caller } from './auth.js';
import { ClusterMetrics } from './cluster-metrics.js';
import { ApiError, invalidRequest } from './errors.js';
import { openApiOptions } from './openapi.js';
import { DEFAULT_RATE_LIMITS, rateLimit, rateLimitOptions, type RateLimits } from './rate-limit.js';
import {
  CREDENTIAL_ERRORS,
  errorAnswer,
  HealthSchema,
  LIVEKIT_DOWN,
  MeetingParamsSchema,
  MeetingViewSchema,
  ReadinessSchema,
  RoomParamsSchema,
  RoomTranscriptionSchema,
  StartTranscriptionBodySchema,
  WebhookAnswerSchema,
} from './schemas.js';
import { Transcriptions, type TranscriptionsDeps } from './transcriptions.js';
import { WebhookHandler, type WebhookOptions } from './webhooks.js';
import { AgentRecovery, type AgentRecoveryOptions } from './agent-recovery.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received (webhook signatures are over these bytes). */
    rawBody?: string;
  }
  interface FastifyContextConfig {
    /** The route takes a bearer credential (authenticated before the rate limit is applied). */
    authenticate?: boolean;
    /** A request without a payload (or an empty one) has the body `{}`; a JSON `null` is still refused. */
    optionalBody?: boolean;
  }
}

/** What the control plane runs on: the transcriptions' connections and stores, and its own settings. */
export interface ApiDeps extends Pick<TranscriptionsDeps, 'redis' | 'store' | 'queues' | 'livekit' | 'stt' | 'artifacts' | 'logger'> {
  config: Pick<Config, 'LIVEKIT_API_KEY' | 'LIVEKIT_API_SECRET' | 'API_SERVICE_KEYS' | 'STT_LANGUAGE'> & Partial<Pick<Config, 'TRUSTED_PROXIES'>>;
  /** Named readiness checks (Redis, S3, LiveKit); each must answer within `readyTimeoutMs`. */
  readiness: Record<string, () => Promise<unknown>>;
  rateLimits?: Partial<RateLimits>;
  /** Redis prefix of the rate-limit counters; API instances that share it share the limits. */
  rateLimitNamespace?: string;
  stopGraceMs?: number;
  readyTimeoutMs?: number;
  webhook?: WebhookOptions;
  /** The bound on re-dispatching a lost agent (src/api/agent-recovery.ts). */
  agentRecovery?: AgentRecoveryOptions;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const BODY_LIMIT = 256 * 1024;

export function buildApi(deps: ApiDeps) {
  const app = fastify({
    loggerInstance: deps.logger,
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 300 },
    // Behind a load balancer: the client's address from X-Forwarded-For, when the hop is trusted.
    trustProxy: deps.config.TRUSTED_PROXIES ?? false,
    // Requests the router itself refuses (undecodable URL) get the same JSON errors as the rest.
    frameworkErrors: (err, _req, reply) => {
      void (reply as FastifyReply).code(400).send({ error: 'invalid_url', message: `The URL could not be decoded (${err.code}).` });
    },
    // A caller's request id is reused (to follow a request across services) if it is a plain token.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  }).withTypeProvider<ZodTypeProvider>();
  // Requests are validated, and answers serialised, with the zod schemas each route declares.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const transcriptions = new Transcriptions({
    redis: deps.redis,
    store: deps.store,
    queues: deps.queues,
    livekit: deps.livekit,
    stt: deps.stt,
    artifacts: deps.artifacts,
    defaultLanguage: deps.config.STT_LANGUAGE,
    // The agent awaits in-flight speech-to-text for up to 20 s when told to stop (src/agent/README.md).
    stopGraceMs: deps.stopGraceMs ?? 30_000,
    logger: deps.logger.child({ component: 'transcriptions' }),
  });
  const recovery = new AgentRecovery(
    { redis: deps.redis, store: deps.store, livekit: deps.livekit, transcriptions, logger: deps.logger.child({ component: 'agent-recovery' }) },
    deps.agentRecovery,
  );
  const webhooks = new WebhookHandler(
    deps.config.LIVEKIT_API_KEY,
    deps.config.LIVEKIT_API_SECRET,
    deps.redis,
    transcriptions,
    recovery,
    deps.logger.child({ component: 'webhooks' }),
    deps.webhook,
  );
  const cluster = new ClusterMetrics(deps.redis, deps.store);
  const authenticator = new Authenticator(deps.config.LIVEKIT_API_KEY, deps.config.LIVEKIT_API_SECRET, deps.config.API_SERVICE_KEYS);
  const limits = { ...DEFAULT_RATE_LIMITS, ...deps.rateLimits };
  /** Each authenticated route's outcome: the caller, or why the credential was refused. */
  const authentication = new WeakMap<FastifyRequest, { caller: Caller } | { error: unknown }>();

  // --- Plumbing ---------------------------------------------------------------------------------

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'application/webhook+json'], { parseAs: 'string' }, (req, body, done) => {
    const raw = body as string;
    req.rawBody = raw;
    if (raw.trim() === '') return done(null, undefined);
    try {
      // Keys that could reach an object's prototype are dropped, whatever later code does with it.
      done(null, JSON.parse(raw, (k, v: unknown) => (k === '__proto__' || k === 'constructor' ? undefined : v)));
    } catch {
      done(new ApiError(400, 'invalid_json', 'The body is not valid JSON.'), undefined);
    }
  });

  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
    httpDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `No route ${req.method} ${req.url.split('?')[0]}.` });
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      err = invalidRequest(err.validationContext, err.validation);
    }
    if (err instanceof ApiError) {
      if (err.statusCode >= 500) req.log.warn({ code: err.code }, 'request refused');
      return reply.code(err.statusCode).headers(err.headers).send(err.body());
    }
    const e = err as { statusCode?: number; code?: string; message?: string; name?: string };
    // Fastify's own client errors (body too large, unsupported media type, bad headers...).
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: (e.code ?? 'bad_request').toLowerCase(), message: e.message ?? 'Bad request.' });
    }
    req.log.error({ err: e }, 'request failed');
    return reply.code(500).send({ error: 'internal_error', message: 'Something went wrong on our side; the request id identifies it in our logs.' });
  });

  app.addHook('onClose', async () => {
    recovery.close();
    await transcriptions.close();
    await cluster.close();
  });

  // Authentication first, so the rate limit knows whose budget the request spends (rate-limit.ts).
  app.addHook('onRequest', async (req) => {
    if (!req.routeOptions.config.authenticate) return;
    try {
      const caller = await authenticator.authenticate(req.headers.authorization);
      authentication.set(req, { caller });
      req.log = req.log.child({ caller: caller.kind === 'service' ? caller.id : 'host' });
    } catch (e) {
      authentication.set(req, { error: e });
    }
  });
  const authenticated = (req: FastifyRequest): Caller | null => {
    const outcome = authentication.get(req);
    return outcome && 'caller' in outcome ? outcome.caller : null;
  };
  void app.register(rateLimit, rateLimitOptions({ redis: deps.redis, limits, callerOf: authenticated, namespace: deps.rateLimitNamespace }));

  /** The caller of an authenticated route, or its authentication error (401/403). */
  function callerOf(req: FastifyRequest): Caller {
    const outcome = authentication.get(req);
    if (outcome && 'caller' in outcome) return outcome.caller;
    throw outcome?.error ?? new Error(`route ${req.routeOptions.url} is not marked authenticate`);
  }


  // A refused credential answers 401/403 before the request is validated, as the rate limit has
  // already been applied (onRequest); handlers then read the caller with callerOf.
  app.addHook('preValidation', async (req) => {
    if (req.routeOptions.config.authenticate) callerOf(req);
    if (req.routeOptions.config.optionalBody && req.body == null && !req.rawBody?.trim()) req.body = {};
  });

  // The OpenAPI document, generated from the routes declared after it (src/api/openapi.ts).
  void app.register(swagger, openApiOptions);

  /** Meeting `id` as the store has it (null if unknown), once the caller's authority over it is checked (requireMeetingAccess: 403 or 404 otherwise). */
  async function visibleMeeting(req: FastifyRequest, id: string): Promise<MeetingInfo | null> {
    const info = await deps.store.get(id);
    await requireMeetingAccess(callerOf(req), info, (room) => transcriptions.openRoomSid(room));
    return info;
  }

  const security = [{ bearer: [] }];
  const MEETING_HIDDEN = errorAnswer(
    'Unknown meeting, or not one the token may see (another room, or an earlier instance of the room and not its requester)',
  );

  // Routes in a plugin registered after the rate limit, so its hook is on each of them; routes that
  // take no bearer credential are not limited (the webhook has its own replay protection).
  void app.register(async (plugin) => {
    const api = plugin.withTypeProvider<ZodTypeProvider>();
    // --- Transcription of a room ------------------------------------------------------------------

    api.post(
      '/v1/rooms/:room/transcription',
      {
        config: { authenticate: true, optionalBody: true },
        schema: {
          summary: 'Start transcribing the room',
          description:
            'Checks that speech-to-text answers, then dispatches the agent. Starting a room that is already transcribed returns the running transcription (200) and sends no second agent.',
          security,
          params: RoomParamsSchema,
          body: StartTranscriptionBodySchema,
          response: {
            201: RoomTranscriptionSchema.describe('Started: the agent is on its way'),
            200: RoomTranscriptionSchema.describe('Already running: the existing transcription'),
            ...CREDENTIAL_ERRORS,
            404: errorAnswer('No open room with this name'),
            502: errorAnswer('LiveKit refused the dispatch'),
            503: errorAnswer('Speech-to-text or LiveKit unreachable; no agent was sent'),
          },
        },
      },
      async (req, reply) => {
        const caller = callerOf(req);
        const { room } = req.params;
        requireRoomAdmin(caller, room);
        const { created, view } = await transcriptions.start(room, caller, req.body);
        return reply.code(created ? 201 : 200).send(view);
      },
    );

    api.get(
      '/v1/rooms/:room/transcription',
      {
        config: { authenticate: true },
        schema: {
          summary: 'State of the transcription of the room\u2019s open instance (idle when the room is not open or its meeting ran in an earlier instance)',
          security,
          params: RoomParamsSchema,
          response: {
            200: RoomTranscriptionSchema.describe('idle, starting, active, finalising, done or failed, with the meeting id'),
            ...CREDENTIAL_ERRORS,
            503: LIVEKIT_DOWN,
          },
        },
      },
      async (req, reply) => {
        const caller = callerOf(req);
        const { room } = req.params;
        requireRoomMember(caller, room);
        return reply.send(await transcriptions.state(room));
      },
    );

    api.delete(
      '/v1/rooms/:room/transcription',
      {
        config: { authenticate: true },
        schema: {
          summary: 'Stop transcribing; the agent leaves and the minutes are made',
          security,
          params: RoomParamsSchema,
          response: {
            202: RoomTranscriptionSchema.describe('Stopping: the meeting is being finalised'),
            200: RoomTranscriptionSchema.describe('Was not running any more: its last state'),
            ...CREDENTIAL_ERRORS,
            404: errorAnswer('No transcription was started in the room\u2019s open instance'),
            503: LIVEKIT_DOWN,
          },
        },
      },
      async (req, reply) => {
        const caller = callerOf(req);
        const { room } = req.params;
        requireRoomAdmin(caller, room);
        const { stopped, view } = await transcriptions.stop(room);
        return reply.code(stopped ? 202 : 200).send(view);
      },
    );

    // --- Meetings ---------------------------------------------------------------------------------

    api.get(
      '/v1/meetings/:id',
      {
        config: { authenticate: true },
        schema: {
          summary: 'A meeting\u2019s state, and presigned links to its transcripts and minutes once done',
          security,
          params: MeetingParamsSchema,
          response: { 200: MeetingViewSchema.describe('The meeting'), ...CREDENTIAL_ERRORS, 404: MEETING_HIDDEN, 503: LIVEKIT_DOWN },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        const info = await visibleMeeting(req, id);
        if (!info) throw new ApiError(404, 'meeting_not_found', `No meeting ${id}.`);
        return reply.send(await transcriptions.meetingView(info));
      },
    );

    api.delete(
      '/v1/meetings/:id',
      {
        config: { authenticate: true },
        schema: {
          summary: 'Erase everything about a meeting (files, state, queued data)',
          security,
          params: MeetingParamsSchema,
          response: {
            204: z.null().describe('Erased'),
            ...CREDENTIAL_ERRORS,
            404: MEETING_HIDDEN,
            409: errorAnswer('Still running or being finalised'),
            503: LIVEKIT_DOWN,
          },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        const info = await visibleMeeting(req, id);
        await transcriptions.erase(id, info);
        return reply.code(204).send(null);
      },
    );

    // --- LiveKit webhooks -------------------------------------------------------------------------

    api.post(
      '/v1/livekit/webhook',
      {
        config: { rateLimit: false },
        schema: {
          summary: 'LiveKit webhook receiver (room_finished, participant_left)',
          description: 'Authenticated by LiveKit\u2019s signature (Authorization: JWT with the body\u2019s SHA-256). Replays and stale events are refused.',
          consumes: ['application/webhook+json'],
          // Checked by the handler against the signed bytes, not by a schema.
          body: z.unknown().describe('A LiveKit WebhookEvent'),
          response: {
            200: WebhookAnswerSchema.describe('Accepted'),
            401: errorAnswer('Forged, altered, stale or replayed'),
            503: errorAnswer('Could not be processed now; LiveKit retries'),
          },
        },
      },
      async (req, reply) => {
        const result = await webhooks.handle(req.rawBody ?? '', req.headers.authorization);
        return reply.send({ ok: true as const, action: result.action });
      },
    );

    // --- Operations -------------------------------------------------------------------------------

    api.get(
      '/healthz',
      { config: { rateLimit: false }, schema: { summary: 'The process is up', response: { 200: HealthSchema.describe('OK') } } },
      async (_req, reply) => reply.send({ ok: true as const }),
    );

    api.get(
      '/readyz',
      {
        config: { rateLimit: false },
        schema: {
          summary: 'Redis, S3 and LiveKit are reachable',
          response: {
            200: ReadinessSchema.describe('Ready'),
            503: ReadinessSchema.describe('A dependency is unreachable; the body says which'),
          },
        },
      },
      async (_req, reply) => {
        const timeout = deps.readyTimeoutMs ?? 2_000;
        const results = await Promise.all(
          Object.entries(deps.readiness).map(async ([name, check]) => [name, await withTimeout(check, timeout)] as const),
        );
        const checks = Object.fromEntries(results);
        const ready = results.every(([, r]) => r === 'ok');
        return reply.code(ready ? 200 : 503).send({ ready, checks });
      },
    );

    api.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: {
          summary: 'Prometheus metrics',
          produces: ['text/plain'],
          response: { 200: z.string().describe('Prometheus text format') },
        },
      },
      async (req, reply) => {
        // A Redis hiccup must not hide the process's own metrics: serve them with stale gauges.
        await cluster.refresh().catch((e: unknown) => req.log.warn({ err: e }, 'cluster metrics unavailable'));
        return reply.type(registry.contentType).send(await registry.metrics());
      },
    );

    api.get(
      '/openapi.json',
      { config: { rateLimit: false }, schema: { summary: 'This document', response: { 200: z.looseObject({}).describe('OpenAPI 3.1') } } },
      async (_req, reply) => reply.send(app.swagger() as unknown as Record<string, unknown>),
    );
  });

  return app;
}

async function withTimeout(check: () => Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
    return 'ok';
  } catch (e) {
    const err = e as Error & { code?: string; name?: string };
    // Name and code only: messages may carry endpoints or credentials in URLs.
    return `unreachable: ${err.code ?? (err.message?.startsWith('no answer within') ? err.message : err.name)}`;
  } finally {
    clearTimeout(timer);
  }
}
