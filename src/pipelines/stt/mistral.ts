/**
 * Mistral Voxtral speech-to-text through the official SDK (`client.audio.transcriptions.complete`).
 *
 * Request shape (SDK 2.7): multipart `model`, `file` (FLAC), `language` or
 * `timestamp_granularities=segment` (the API refuses both together), `diarize`, `context_bias`
 * (glossary terms), `temperature` 0.
 * - Short utterances (the live agent's) are sent with `language`: the hint is worth more than
 *   timestamps inside a few seconds of speech, which become one segment spanning the upload.
 * - Long audio (> 60 s) or a diarization request asks for segment timestamps instead, and lets
 *   Voxtral detect the language; diarized segments carry the provider's speaker label.
 *
 * Retries: the SDK's retry loop is turned off *for this call* (`retries: {strategy:'none'}`), so
 * retry.ts is the only one. Both together would multiply attempts (4 x SDK's), and the SDK's loop
 * reuses one AbortSignal for all its attempts (a per-attempt timeout would end them all) and
 * sleeps through aborts. retry.ts honours Retry-After with the same cap as for Whisper servers.
 */
import { Mistral } from '@mistralai/mistralai';
import { MistralError, ResponseValidationError, SDKValidationError } from '@mistralai/mistralai/models/errors';
import { errorDetail, httpError, termsOf, type RawTranscription, type SttBackend } from './backend.js';
import { residentFetch, residentMistralHttpClient } from '../resident-fetch.js';
import { connectionCode, isConnectionError, parseRetryAfter } from './retry.js';
import type { Upload } from './upload.js';
import { SttError, type AttemptContext, type RecognisedSegment, type SttRequest } from './types.js';

export interface MistralSttOptions {
  apiKey: string;
  /** Server root without /v1 (https://api.eu.mistral.ai); a trailing /v1 is tolerated. Default: the SDK's `eu` server. */
  serverURL?: string;
  model: string;
  /** Above this, segment timestamps are asked for instead of the language hint. */
  timestampsAboveMs?: number;
}

const KEY_HINT = 'STT_API_KEY (or MISTRAL_API_KEY)';
/** The API accepts a bounded list of context-bias terms. */
const MAX_CONTEXT_TERMS = 100;
const NO_SDK_RETRIES = { strategy: 'none' } as const;

export function mistralServerRoot(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export class MistralBackend implements SttBackend {
  readonly provider = 'mistral' as const;
  readonly model: string;
  readonly #client: Mistral;
  readonly #root: string;
  readonly #apiKey: string;
  readonly #timestampsAboveMs: number;

  constructor(opts: MistralSttOptions) {
    if (!opts.apiKey) throw new SttError(`Mistral speech-to-text needs an API key: set ${KEY_HINT}`, { code: 'bad_request', retryable: false });
    this.model = opts.model;
    this.#apiKey = opts.apiKey;
    this.#timestampsAboveMs = opts.timestampsAboveMs ?? 60_000;
    this.#client = opts.serverURL
      ? new Mistral({ apiKey: opts.apiKey, serverURL: mistralServerRoot(opts.serverURL), httpClient: residentMistralHttpClient('STT_BASE_URL') })
      : new Mistral({ apiKey: opts.apiKey, server: 'eu', httpClient: residentMistralHttpClient('STT_BASE_URL') });
    this.#root = opts.serverURL ? mistralServerRoot(opts.serverURL) : 'https://api.eu.mistral.ai';
  }

  get transcriptionsUrl(): string {
    return `${this.#root}/v1/audio/transcriptions`;
  }

  async send(upload: Upload, req: SttRequest, ctx: AttemptContext): Promise<RawTranscription> {
    const wantTimestamps = req.diarize === true || upload.durationMs > this.#timestampsAboveMs;
    const terms = [...(req.glossary ?? []), ...termsOf(req.prompt)]
      .map((t) => t.replace(/,/g, ' ').trim())
      .filter((t) => t.length > 0)
      .slice(0, MAX_CONTEXT_TERMS);
    let res;
    try {
      res = await this.#client.audio.transcriptions.complete(
        {
          model: this.model,
          // A File, not {fileName, content}: the SDK would label .flac as application/octet-stream.
          file: new File([upload.bytes], upload.fileName, { type: upload.mimeType }),
          ...(wantTimestamps ? { timestampGranularities: ['segment' as const] } : { language: req.language }),
          ...(req.diarize ? { diarize: true } : {}),
          ...(terms.length > 0 ? { contextBias: [...new Set(terms)] } : {}),
          temperature: 0,
        },
        { retries: NO_SDK_RETRIES, signal: ctx.signal },
      );
    } catch (e) {
      throw this.#translate(e, this.transcriptionsUrl);
    }
    const segments: RecognisedSegment[] | null =
      res.segments && res.segments.length > 0
        ? res.segments.map((s) => ({
            startMs: Math.round((s.start ?? 0) * 1000),
            endMs: Math.round((s.end ?? upload.durationMs / 1000) * 1000),
            text: s.text.trim(),
            noSpeechProb: null,
            avgLogprob: null,
            compressionRatio: null,
            ...(req.diarize ? { speaker: s.speakerId ?? null } : {}),
          }))
        : null;
    return { text: res.text.trim(), segments, language: res.language ?? null };
  }

  /**
   * `GET /v1/models` through the SDK (no audio, not metered). 401/403: key refused. A server
   * without /v1/models (404, e.g. a gateway exposing only transcription) is probed with
   * `HEAD /v1/audio/transcriptions`, as for OpenAI-compatible servers.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.models.list(undefined, { retries: NO_SDK_RETRIES, ...(signal ? { signal } : {}) });
      return;
    } catch (e) {
      if (!(e instanceof MistralError && (e.statusCode === 404 || e.statusCode === 405))) {
        if (e instanceof ResponseValidationError || e instanceof SDKValidationError) return; // it answered 2xx: reachable
        throw this.#translate(e, `${this.#root}/v1/models`, signal);
      }
    }
    let res: Response;
    try {
      res = await residentFetch('STT_BASE_URL')(this.transcriptionsUrl, { method: 'HEAD', headers: { authorization: `Bearer ${this.#apiKey}` }, ...(signal ? { signal } : {}) });
    } catch (e) {
      throw this.#translate(e, this.transcriptionsUrl, signal);
    }
    if (res.status === 404 || res.status === 401 || res.status === 403 || res.status >= 500) {
      throw httpError(res.status, undefined, { settingHint: KEY_HINT, endpoint: this.transcriptionsUrl });
    }
  }

  /** SDK errors as SttError; abort and timeout are left to retry.ts, which reads the signals. */
  #translate(e: unknown, endpoint: string, probeSignal?: AbortSignal): unknown {
    if (e instanceof MistralError) {
      const retryAfterMs = parseRetryAfter(e.headers.get('retry-after'));
      return httpError(e.statusCode, errorDetail(e.body), { settingHint: KEY_HINT, endpoint, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    }
    if (e instanceof ResponseValidationError || e instanceof SDKValidationError) {
      return new SttError(`the Mistral transcription answer does not have the expected shape (${e.message.slice(0, 200)})`, {
        code: 'bad_response',
        retryable: false,
        cause: e,
      });
    }
    if (probeSignal?.aborted) return new SttError('speech-to-text probe cancelled', { code: 'aborted', retryable: false, cause: e });
    if (isConnectionError(e)) {
      const code = connectionCode(e);
      return new SttError(`the Mistral service at ${this.#root} is unreachable${code ? ` (${code})` : ''}`, { code: 'connection', retryable: true, cause: e });
    }
    return e;
  }
}
