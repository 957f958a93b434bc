/**
 * What a provider adapter implements: one attempt of one transcription, and a probe. Retries, the
 * concurrency limit, encoding and the hallucination filter are shared (service.ts), so adapters
 * stay small and behave the same.
 */
import type { Upload } from './upload.js';
import { isRetryableStatus } from './retry.js';
import { SttError, type AttemptContext, type RecognisedSegment, type SttProvider, type SttRequest } from './types.js';

export interface RawTranscription {
  text: string;
  /** null when the provider answered without timed segments (plain JSON, Mistral without granularities). */
  segments: RecognisedSegment[] | null;
  /** As the provider gave it: a code ("fr"), an English name ("french") or null. */
  language: string | null;
}

export interface SttBackend {
  readonly provider: SttProvider;
  readonly model: string;
  /** One attempt: throws SttError for HTTP failures (retryable or not); signal covers timeout and abort. */
  send(upload: Upload, req: SttRequest, ctx: AttemptContext): Promise<RawTranscription>;
  probe(signal?: AbortSignal): Promise<void>;
}

/**
 * An SttError for an HTTP error answer, with a message an operator can act on. `detail` is the
 * provider's own error message (never the body as a whole), cut short.
 */
export function httpError(status: number, detail: string | undefined, opts: { retryAfterMs?: number; settingHint: string; endpoint: string }): SttError {
  const why = detail ? `: ${detail.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  let message: string;
  if (status === 401 || status === 403) message = `the speech-to-text service refused the API key (HTTP ${status})${why}. Check ${opts.settingHint}.`;
  else if (status === 404) message = `no speech-to-text endpoint at ${opts.endpoint} (HTTP 404)${why}. Check STT_BASE_URL (the part before /audio/transcriptions) and STT_MODEL.`;
  else if (status === 413) message = `the speech-to-text service refused the audio as too large (HTTP 413)${why}.`;
  else if (status === 429) message = `the speech-to-text service is rate-limiting us (HTTP 429)${why}.`;
  else if (status >= 500) message = `the speech-to-text service failed (HTTP ${status})${why}.`;
  else message = `the speech-to-text service rejected the request (HTTP ${status})${why}.`;
  return new SttError(message, {
    code: 'http',
    status,
    retryable: isRetryableStatus(status),
    ...(opts.retryAfterMs !== undefined ? { retryAfterMs: opts.retryAfterMs } : {}),
  });
}

/** Pulls the human message out of the error bodies OpenAI, whisper servers, FastAPI and Mistral send. */
export function errorDetail(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    const e = j.error;
    if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
    if (typeof e === 'string') return e;
    if (typeof j.message === 'string') return j.message;
    if (typeof j.detail === 'string') return j.detail;
    if (Array.isArray(j.detail)) {
      return j.detail
        .map((d) => (d && typeof d === 'object' && typeof (d as { msg?: unknown }).msg === 'string' ? (d as { msg: string }).msg : ''))
        .filter(Boolean)
        .join('; ');
    }
  } catch {
    // not JSON: a proxy's HTML page or plain text; not worth quoting
  }
  return undefined;
}

let namesToCodes: Map<string, string> | undefined;

/** "fr" -> "fr", "french" / "French" -> "fr"; unknown -> undefined. */
export function languageCode(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim().toLowerCase();
  if (/^[a-z]{2}$/.test(v)) return v;
  if (/^[a-z]{2}[-_]/.test(v)) return v.slice(0, 2);
  if (!namesToCodes) {
    namesToCodes = new Map();
    const names = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });
    for (let a = 97; a <= 122; a++) {
      for (let b = 97; b <= 122; b++) {
        const code = String.fromCharCode(a, b);
        const name = names.of(code);
        if (name) namesToCodes.set(name.toLowerCase(), code);
      }
    }
  }
  return namesToCodes.get(v);
}

/** Glossary terms as one Whisper prompt: Whisper continues the prompt's style and spelling. */
export function glossaryPrompt(terms: readonly string[]): string | undefined {
  const clean = terms.map((t) => t.trim()).filter((t) => t.length > 0);
  return clean.length > 0 ? `${clean.join(', ')}.` : undefined;
}

/** Glossary terms from a comma/semicolon/newline separated prompt. */
export function termsOf(prompt: string | undefined): string[] {
  if (!prompt) return [];
  return prompt
    .split(/[,;\n]+/)
    .map((t) => t.trim().replace(/[.]+$/, ''))
    .filter((t) => t.length > 0);
}
