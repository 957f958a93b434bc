/**
 * OpenAI-compatible speech-to-text (`POST {base}/audio/transcriptions`), as OpenAI, faster-whisper
 * / speaches, whisper.cpp's server, vLLM and French hosts' Whisper endpoints speak it. Plain fetch
 * with FormData: no SDK needed for one multipart call.
 *
 * Asks for `verbose_json` with segment timestamps and temperature 0, so each segment carries
 * Whisper's no_speech_prob / avg_logprob / compression_ratio for the hallucination filter; a server
 * that ignores verbose_json and answers `{text}` is accepted too (one untimed segment).
 */
import { z } from 'zod';
import { errorDetail, glossaryPrompt, httpError, type RawTranscription, type SttBackend } from './backend.js';
import { residentFetch } from '../resident-fetch.js';
import { connectionCode, isConnectionError, parseRetryAfter } from './retry.js';
import type { Upload } from './upload.js';
import { SttError, type AttemptContext, type RecognisedSegment, type SttRequest } from './types.js';

const num = z.number().finite();

const VerboseSegment = z.looseObject({
  start: num,
  end: num,
  text: z.string(),
  no_speech_prob: num.nullish(),
  avg_logprob: num.nullish(),
  compression_ratio: num.nullish(),
});

/** verbose_json (segments may be absent when a server ignores the granularity) or plain json. */
export const OpenAiTranscriptionResponse = z.looseObject({
  text: z.string(),
  language: z.string().nullish(),
  duration: num.nullish(),
  segments: z.array(VerboseSegment).nullish(),
});
export type OpenAiTranscriptionResponse = z.infer<typeof OpenAiTranscriptionResponse>;

export interface OpenAiCompatibleOptions {
  /** STT_BASE_URL: the part before /audio/transcriptions, e.g. https://stt.example.fr/v1. */
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Injected for tests; global fetch by default. */
  fetch?: typeof fetch;
}

const KEY_HINT = 'STT_API_KEY';

export class OpenAiCompatibleBackend implements SttBackend {
  readonly provider = 'openai-compatible' as const;
  readonly model: string;
  readonly #base: string;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(opts: OpenAiCompatibleOptions) {
    this.model = opts.model;
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey || undefined;
    this.#fetch = residentFetch('STT_BASE_URL', opts.fetch ?? fetch);
  }

  get transcriptionsUrl(): string {
    return `${this.#base}/audio/transcriptions`;
  }

  #headers(): Record<string, string> {
    return this.#apiKey ? { authorization: `Bearer ${this.#apiKey}` } : {};
  }

  async send(upload: Upload, req: SttRequest, ctx: AttemptContext): Promise<RawTranscription> {
    const form = new FormData();
    form.append('file', new Blob([upload.bytes], { type: upload.mimeType }), upload.fileName);
    form.append('model', this.model);
    form.append('language', req.language);
    const prompt = req.prompt?.trim() || glossaryPrompt(req.glossary ?? []);
    if (prompt) form.append('prompt', prompt);
    form.append('response_format', 'verbose_json');
    form.append('timestamp_granularities[]', 'segment');
    // Greedy decoding: the same audio gives the same text, and less invention on noise.
    form.append('temperature', '0');

    const res = await this.#fetch(this.transcriptionsUrl, {
      method: 'POST',
      headers: { ...this.#headers(), accept: 'application/json' },
      body: form,
      signal: ctx.signal,
    });
    const body = await res.text();
    if (!res.ok) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      throw httpError(res.status, errorDetail(body), {
        settingHint: KEY_HINT,
        endpoint: this.transcriptionsUrl,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    return parseOpenAiTranscription(body);
  }

  /**
   * `GET {base}/models` (cheap, no audio, present on OpenAI, vLLM, speaches, LocalAI...):
   * 2xx and other 4xx mean the server is up; 401/403 means the key is refused. Servers without
   * /models (404/405, e.g. whisper.cpp) are probed with `HEAD {base}/audio/transcriptions`: any
   * answer but 404, 401/403 or 5xx shows the endpoint exists (typically 405 for POST-only routes).
   * Nothing is transcribed, so the probe costs nothing on metered services.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    const models = await this.#probeRequest('GET', `${this.#base}/models`, signal);
    if (models === 404 || models === 405) {
      const status = await this.#probeRequest('HEAD', this.transcriptionsUrl, signal);
      if (status === 404) throw httpError(404, undefined, { settingHint: KEY_HINT, endpoint: this.transcriptionsUrl });
    }
  }

  async #probeRequest(method: 'GET' | 'HEAD', url: string, signal?: AbortSignal): Promise<number> {
    let res: Response;
    try {
      res = await this.#fetch(url, { method, headers: this.#headers(), ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted) throw new SttError('speech-to-text probe cancelled', { code: 'aborted', retryable: false, cause: e });
      if (isConnectionError(e)) {
        const code = connectionCode(e);
        throw new SttError(`the speech-to-text service at ${this.#base} is unreachable${code ? ` (${code})` : ''}`, {
          code: 'connection',
          retryable: true,
          cause: e,
        });
      }
      throw e;
    }
    const body = method === 'GET' ? await res.text().catch(() => '') : '';
    if (res.status === 401 || res.status === 403 || res.status >= 500) {
      throw httpError(res.status, errorDetail(body), { settingHint: KEY_HINT, endpoint: url });
    }
    return res.status;
  }
}

/** Parses a transcription answer into the shared shape; a malformed answer is a clear, non-retryable error. */
export function parseOpenAiTranscription(body: string): RawTranscription {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new SttError('the speech-to-text service answered something that is not JSON (is STT_BASE_URL a Whisper-compatible API?)', {
      code: 'bad_response',
      retryable: false,
    });
  }
  const parsed = OpenAiTranscriptionResponse.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new SttError(`the speech-to-text answer does not have the expected shape (${where})`, { code: 'bad_response', retryable: false });
  }
  const r = parsed.data;
  const segments: RecognisedSegment[] | null = r.segments
    ? r.segments.map((s) => ({
        startMs: Math.round(s.start * 1000),
        endMs: Math.round(s.end * 1000),
        text: s.text.trim(),
        noSpeechProb: s.no_speech_prob ?? null,
        avgLogprob: s.avg_logprob ?? null,
        compressionRatio: s.compression_ratio ?? null,
      }))
    : null;
  return { text: r.text.trim(), segments, language: r.language ?? null };
}
