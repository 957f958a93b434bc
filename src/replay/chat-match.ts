/**
 * Matching chat completion requests to recorded ones by what they say, not by their bytes.
 *
 * The messages are normalised (whitespace collapsed, every run of digits masked) so that a prompt
 * carrying timestamps, durations or dates that jitter between runs still finds its recording,
 * then digested with sha256. The model and the response_format schema name must match as well.
 */
import { createHash } from 'node:crypto';
import type { ChatEntry } from './cassette.js';

export interface ChatKey {
  model: string;
  schemaName: string | null;
  /** Normalised messages, one line per message. */
  text: string;
  digest: string;
}

interface RawMessage {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
  name?: unknown;
}

export function normaliseText(s: string): string {
  return s.replace(/\s+/g, ' ').replace(/\d+/g, '#').trim();
}

function contentText(content: unknown): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((chunk: unknown) => {
        if (chunk && typeof chunk === 'object') {
          const c = chunk as Record<string, unknown>;
          if (c.type === 'text' && typeof c.text === 'string') return c.text;
          return `[${String(c.type ?? 'chunk')}]`;
        }
        return String(chunk);
      })
      .join(' ');
  }
  return JSON.stringify(content);
}

function messageLine(m: RawMessage): string {
  const parts = [`${String(m.role ?? '?')}:`, contentText(m.content)];
  if (Array.isArray(m.tool_calls) && m.tool_calls.length > 0) parts.push(`tool_calls=${JSON.stringify(m.tool_calls)}`);
  if (typeof m.tool_call_id === 'string') parts.push(`tool_call_id=${m.tool_call_id}`);
  return normaliseText(parts.join(' '));
}

export function digestOf(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Key of a /v1/chat/completions request body (already JSON-parsed). */
export function chatKeyOf(body: { model: string; messages: readonly unknown[]; response_format?: unknown }): ChatKey {
  const text = body.messages.map((m) => messageLine((m ?? {}) as RawMessage)).join('\n');
  return { model: body.model, schemaName: schemaNameOf(body.response_format), text, digest: digestOf(text) };
}

function schemaNameOf(rf: unknown): string | null {
  if (!rf || typeof rf !== 'object') return null;
  const js = (rf as Record<string, unknown>).json_schema;
  if (!js || typeof js !== 'object') return null;
  const name = (js as Record<string, unknown>).name;
  return typeof name === 'string' ? name : null;
}

export function findChatEntry(entries: readonly ChatEntry[], key: ChatKey): ChatEntry | undefined {
  return entries.find((e) => e.digest === key.digest && e.model === key.model && e.schemaName === key.schemaName);
}

export interface ChatNearMiss {
  entryId: string;
  /** Share of the longer text covered by the common prefix and suffix (1 = identical). */
  similarity: number;
  /** Character offset in the normalised text where the request first differs from the entry. */
  firstDifferenceAt: number;
  modelDiffers: boolean;
  schemaNameDiffers: boolean;
  /** The two texts around the first difference. Meeting content: kept in memory, never sent or logged. */
  excerpt: { recorded: string; request: string };
}

/** The recorded entry closest to an unmatched request, to say what changed. */
export function closestChatEntry(entries: readonly ChatEntry[], key: ChatKey): ChatNearMiss | null {
  let best: ChatNearMiss | null = null;
  for (const e of entries) {
    const a = e.request;
    const b = key.text;
    let p = 0;
    while (p < a.length && p < b.length && a[p] === b[p]) p++;
    let s = 0;
    while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
    const longest = Math.max(a.length, b.length);
    const similarity = longest === 0 ? 1 : (p + s) / longest;
    const near: ChatNearMiss = {
      entryId: e.id,
      similarity: Math.round(similarity * 1000) / 1000,
      firstDifferenceAt: p,
      modelDiffers: e.model !== key.model,
      schemaNameDiffers: e.schemaName !== key.schemaName,
      excerpt: { recorded: a.slice(Math.max(0, p - 40), p + 80), request: b.slice(Math.max(0, p - 40), p + 80) },
    };
    // Prefer entries for the same model and schema, then the most similar text.
    const rank = (n: ChatNearMiss) => (n.modelDiffers ? 0 : 2) + (n.schemaNameDiffers ? 0 : 1) + n.similarity;
    if (!best || rank(near) > rank(best)) best = near;
  }
  return best;
}
