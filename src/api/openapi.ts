/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas the handlers validate
 * with. Served at /openapi.json and committed as openapi/openapi.json (a test keeps them equal;
 * regenerate with `npx tsx src/api/openapi.ts > openapi/openapi.json`).
 */
import { z } from 'zod';
import {
  ErrorBodySchema,
  MeetingParamsSchema,
  MeetingViewSchema,
  RoomParamsSchema,
  RoomTranscriptionSchema,
  StartTranscriptionBodySchema,
  WebhookAnswerSchema,
} from './schemas.js';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
const out = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' });

const errorRef = { $ref: '#/components/schemas/Error' };
const error = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
const ok = (description: string, ref: string) => ({ description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } } });

const COMMON_ERRORS = {
  '400': error('Invalid parameter or body; `issues` lists every problem'),
  '401': error('No, malformed, forged or expired credentials'),
  '403': error('Valid credentials that do not allow this'),
  '429': error('Too many requests from this caller; see Retry-After'),
};

/** A host's authority depends on the room instance LiveKit reports as open. */
const LIVEKIT_DOWN = error('LiveKit did not answer when asked which instance of the room is open; see Retry-After');

function pathParam(schema: z.ZodObject, name: string) {
  const shape = schema.shape as Record<string, z.ZodType>;
  const s = json(shape[name] as z.ZodType) as Record<string, unknown>;
  return { name, in: 'path', required: true, description: s.description, schema: { ...s, description: undefined } };
}

export function buildOpenApiDocument(): Record<string, unknown> {
  const room = pathParam(RoomParamsSchema, 'room');
  const meeting = pathParam(MeetingParamsSchema, 'id');
  const security = [{ bearer: [] }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'meeting-agent control plane',
      version: '1',
      description:
        'Start and stop the live transcription of a LiveKit room, read its state, fetch or erase a meeting\u2019s artefacts. ' +
        'Authenticate with "Authorization: Bearer <credential>", where the credential is either a service key (API_SERVICE_KEYS: the conferencing backend, allowed everything) ' +
        'or the host\u2019s LiveKit access token (signed with this server\u2019s LiveKit API key and secret, not expired). A token acts only on its own room (`video.room`); ' +
        'starting and stopping need `video.roomAdmin`, reading the room\u2019s state needs only a token for that room. ' +
        'LiveKit reuses room names: the room\u2019s state is that of its open instance, and a meeting may be read or erased by a service key, ' +
        'by its requester (a roomAdmin token for its room with the identity that started it), or by a roomAdmin token for its room while the room instance it ran in is still open. ' +
        'Anyone else gets 404. Limits: per credential for valid ones, per client address for missing or invalid ones (429 with Retry-After).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Service key or the host\u2019s LiveKit access token (JWT)' } },
      schemas: {
        Error: out(ErrorBodySchema),
        StartTranscription: json(StartTranscriptionBodySchema),
        RoomTranscription: out(RoomTranscriptionSchema),
        Meeting: out(MeetingViewSchema),
      },
    },
    paths: {
      '/v1/rooms/{room}/transcription': {
        parameters: [room],
        post: {
          summary: 'Start transcribing the room',
          description:
            'Checks that speech-to-text answers, then dispatches the agent. Starting a room that is already transcribed returns the running transcription (200) and sends no second agent.',
          security,
          requestBody: { required: false, content: { 'application/json': { schema: { $ref: '#/components/schemas/StartTranscription' } } } },
          responses: {
            '201': ok('Started: the agent is on its way', 'RoomTranscription'),
            '200': ok('Already running: the existing transcription', 'RoomTranscription'),
            ...COMMON_ERRORS,
            '404': error('No open room with this name'),
            '502': error('LiveKit refused the dispatch'),
            '503': error('Speech-to-text or LiveKit unreachable; no agent was sent'),
          },
        },
        get: {
          summary: 'State of the transcription of the room\u2019s open instance (idle when the room is not open or its meeting ran in an earlier instance)',
          security,
          responses: {
            '200': ok('idle, starting, active, finalising, done or failed, with the meeting id', 'RoomTranscription'),
            ...COMMON_ERRORS,
            '503': LIVEKIT_DOWN,
          },
        },
        delete: {
          summary: 'Stop transcribing; the agent leaves and the minutes are made',
          security,
          responses: {
            '202': ok('Stopping: the meeting is being finalised', 'RoomTranscription'),
            '200': ok('Was not running any more: its last state', 'RoomTranscription'),
            ...COMMON_ERRORS,
            '404': error('No transcription was started in the room\u2019s open instance'),
            '503': LIVEKIT_DOWN,
          },
        },
      },
      '/v1/meetings/{id}': {
        parameters: [meeting],
        get: {
          summary: 'A meeting\u2019s state, and presigned links to its transcripts and minutes once done',
          security,
          responses: {
            '200': ok('The meeting', 'Meeting'),
            ...COMMON_ERRORS,
            '404': error('Unknown meeting, or not one the token may see (another room, or an earlier instance of the room and not its requester)'),
            '503': LIVEKIT_DOWN,
          },
        },
        delete: {
          summary: 'Erase everything about a meeting (files, state, queued data)',
          security,
          responses: {
            '204': { description: 'Erased' },
            ...COMMON_ERRORS,
            '404': error('Unknown meeting, or not one the token may see (another room, or an earlier instance of the room and not its requester)'),
            '409': error('Still running or being finalised'),
            '503': LIVEKIT_DOWN,
          },
        },
      },
      '/v1/livekit/webhook': {
        post: {
          summary: 'LiveKit webhook receiver (room_finished, participant_left)',
          description: 'Authenticated by LiveKit\u2019s signature (Authorization: JWT with the body\u2019s SHA-256). Replays and stale events are refused.',
          requestBody: { required: true, content: { 'application/webhook+json': { schema: { type: 'object' } } } },
          responses: {
            '200': { description: 'Accepted', content: { 'application/json': { schema: out(WebhookAnswerSchema) } } },
            '401': error('Forged, altered, stale or replayed'),
            '503': error('Could not be processed now; LiveKit retries'),
          },
        },
      },
      '/healthz': { get: { summary: 'The process is up', responses: { '200': { description: 'OK' } } } },
      '/readyz': {
        get: {
          summary: 'Redis, S3 and LiveKit are reachable',
          responses: { '200': { description: 'Ready' }, '503': { description: 'A dependency is unreachable; the body says which' } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format' } } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  };
}

/** The committed file's exact text (stable key order, trailing newline). */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(openApiText());
}
