/**
 * Answering POST /v1/chat/completions (what @mistralai/mistralai's chat.complete and chat.parse send)
 * from cassettes.
 */
import { z } from 'zod';
import { ChatResponse, type ChatEntry, type Origin } from './cassette.js';
import { chatKeyOf, closestChatEntry, findChatEntry, type ChatKey, type ChatNearMiss } from './chat-match.js';
import { HttpError } from './http-io.js';
import type { Reply } from './transcription-replay.js';

const ChatRequestBody = z.looseObject({
  model: z.string().min(1),
  messages: z.array(z.looseObject({ role: z.string() })).min(1),
  response_format: z.unknown().optional(),
  stream: z.boolean().optional(),
});

export interface ChatRequest {
  key: ChatKey;
  /** The body as received, to forward in record mode. */
  raw: Buffer;
}

export function parseChatRequest(contentType: string | undefined, body: Buffer): ChatRequest {
  const invalid = (message: string) => new HttpError(422, message, 'invalid_request_error');
  if (!contentType?.toLowerCase().includes('application/json')) throw invalid('expected an application/json body');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('body is not valid JSON');
  }
  const parsed = ChatRequestBody.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
  }
  if (parsed.data.stream === true) throw invalid('streaming chat completions are not supported by the replay server');
  return { key: chatKeyOf(parsed.data), raw: body };
}

export type ChatOutcome = { kind: 'matched'; reply: Reply; entryId: string } | { kind: 'unmatched'; closest: ChatNearMiss | null };

export function answerChat(req: ChatRequest, entries: readonly ChatEntry[]): ChatOutcome {
  const entry = findChatEntry(entries, req.key);
  if (!entry) return { kind: 'unmatched', closest: closestChatEntry(entries, req.key) };
  return { kind: 'matched', entryId: entry.id, reply: { status: 200, contentType: 'application/json', body: JSON.stringify(entry.response) } };
}

/**
 * A cassette entry for a chat request body (as the SDK sends it: snake_case JSON) and the response
 * to give it, e.g. to write ground-truth minutes into a cassette.
 */
export function buildChatEntry(
  body: { model: string; messages: readonly unknown[]; response_format?: unknown },
  response: unknown,
  { id, origin = 'ground-truth' }: { id?: string; origin?: Origin } = {},
): ChatEntry {
  const key = chatKeyOf(body);
  return {
    id: id ?? `chat-${key.digest.slice(0, 16)}${key.schemaName ? `-${key.schemaName}` : ''}`,
    origin,
    model: key.model,
    schemaName: key.schemaName,
    digest: key.digest,
    request: key.text,
    response: ChatResponse.parse(response),
  };
}
