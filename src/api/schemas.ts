/**
 * Every parameter, body and answer of the HTTP API, as zod schemas. The routes declare them
 * (src/api/server.ts): Fastify validates requests with them and @fastify/swagger generates the
 * OpenAPI document (openapi/openapi.json) from them, so the two cannot drift.
 */
import { z } from 'zod';

// LiveKit accepts nearly any room name; refuse only what cannot be a sane one.
export const RoomParamsSchema = z.object({
  room: z
    .string()
    .min(1, 'must not be empty')
    .max(256, 'at most 256 characters')
    .refine((s) => !/[/\\]/.test(s) && ![...s].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127), 'no control characters, "/" or "\\"')
    .describe('LiveKit room name'),
});

export const MeetingParamsSchema = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, "-" and "_" only, at most 100')
    .describe('Meeting id, as returned when the transcription started'),
});

export const StartTranscriptionBodySchema = z
  .strictObject({
    language: z
      .string()
      .regex(/^[a-z]{2}$/, 'a two-letter ISO 639-1 code such as fr')
      .optional()
      .describe('Meeting language; the server default (STT_LANGUAGE) when absent'),
    glossary: z
      .array(z.string().trim().min(1, 'terms must not be empty').max(100, 'terms of at most 100 characters'))
      .max(200, 'at most 200 terms')
      .optional()
      .describe('Names and terms the speech-to-text should spell right'),
    recipients: z
      .array(z.email('must be an email address').max(254))
      .max(50, 'at most 50 recipients')
      .optional()
      .describe(
        'Extra addresses that receive the minutes besides the participants. A service key may add any; a host token only its own address (its `email` attribute).',
      ),
    requester: z
      .strictObject({
        identity: z.string().min(1).max(256).optional(),
        email: z.email('must be an email address').max(254).optional(),
      })
      .optional()
      .describe('Service keys only: on whose behalf the transcription is started (receives the minutes). Hosts are the requester themselves.'),
  })
  .describe('Start options; every field is optional and the body may be empty.');
export type StartTranscriptionBody = z.infer<typeof StartTranscriptionBodySchema>;

export const TranscriptionStateSchema = z.enum(['idle', 'starting', 'active', 'finalising', 'done', 'failed']);
export type TranscriptionState = z.infer<typeof TranscriptionStateSchema>;

export const RoomTranscriptionSchema = z.object({
  room: z.string(),
  state: TranscriptionStateSchema,
  meetingId: z.string().nullable().describe('null when idle'),
  language: z.string().nullable(),
  createdAt: z.string().nullable(),
  startedAt: z.string().nullable().describe('When the agent joined'),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
});
export type RoomTranscription = z.infer<typeof RoomTranscriptionSchema>;

export const ArtifactLinkSchema = z.object({
  name: z.string().describe('transcript.json, transcript.vtt, transcript.srt, transcript.md, minutes.json or minutes.md'),
  size: z.number().int().nonnegative().nullable().describe('Bytes, from the manifest'),
  contentType: z.string().nullable(),
  sha256: z.string().nullable().describe('Hex SHA-256 of the file, from the manifest'),
  url: z.string().describe('Presigned GET link (LINK_EXPIRY_HOURS)'),
  expiresAt: z.string(),
});
export type ArtifactLink = z.infer<typeof ArtifactLinkSchema>;

export const MeetingViewSchema = z.object({
  meetingId: z.string(),
  room: z.string().nullable(),
  state: TranscriptionStateSchema.exclude(['idle']),
  language: z.string(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  endReason: z.string().nullable(),
  failure: z.string().nullable(),
  artifacts: z.array(ArtifactLinkSchema).describe('Presigned links once the meeting is done; empty before'),
});
export type MeetingView = z.infer<typeof MeetingViewSchema>;

export const ErrorBodySchema = z.object({
  error: z.string().describe('Stable machine-readable code'),
  message: z.string().describe('What went wrong, for a human'),
  issues: z
    .array(z.object({ in: z.enum(['params', 'body', 'query', 'headers']), path: z.string(), message: z.string() }))
    .optional()
    .describe('For 400: every problem found'),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export const WebhookAnswerSchema = z.object({ ok: z.literal(true), action: z.string() });

export const HealthSchema = z.object({ ok: z.literal(true) });

export const ReadinessSchema = z.object({
  ready: z.boolean(),
  checks: z.record(z.string(), z.string()).describe('Per dependency: ok, or "unreachable: " and an error name or code'),
});

/** An error answer, with what it means on this route. */
export const errorAnswer = (description: string) => ErrorBodySchema.describe(description);

/** The errors of every route that takes a bearer credential. */
export const CREDENTIAL_ERRORS = {
  400: errorAnswer('Invalid parameter or body; `issues` lists every problem'),
  401: errorAnswer('No, malformed, forged or expired credentials'),
  403: errorAnswer('Valid credentials that do not allow this'),
  429: errorAnswer('Too many requests from this caller; see Retry-After'),
};

/** A host's authority depends on the room instance LiveKit reports as open. */
export const LIVEKIT_DOWN = errorAnswer('LiveKit did not answer when asked which instance of the room is open; see Retry-After');
