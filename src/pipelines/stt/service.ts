/**
 * One provider adapter turned into the product's SpeechToText: encode once (FLAC), wait for a slot
 * (STT_CONCURRENCY), call with retries, then drop hallucinations and compute the confidence.
 * Logs carry durations, statuses and attempt counts only, never text or audio.
 */
import type { UploadFormat } from '../audio/ffmpeg.js';
import type { Logger } from '../../logging.js';
import { sttFailures, sttLatency } from '../../metrics.js';
import type { RawTranscription, SttBackend } from './backend.js';
import { languageCode } from './backend.js';
import type { ConcurrencyLimiter } from './concurrency.js';
import { confidenceOf, filterHallucinations, joinSegmentTexts, type FilterThresholds } from './hallucinations.js';
import { withRetry, type RetryPolicy } from './retry.js';
import { prepareUpload } from './upload.js';
import { SttError, type RecognisedSegment, type SpeechToText, type SttRequest, type Transcription } from './types.js';

export interface SpeechToTextServiceOptions {
  backend: SttBackend;
  limiter: ConcurrencyLimiter;
  retry: RetryPolicy;
  uploadFormat?: UploadFormat;
  filter?: Partial<FilterThresholds>;
  logger?: Logger;
  /** Uploads above this many bytes are refused before sending (SttError 'too_large'): the provider's limit. */
  maxUploadBytes?: number;
}

export class SpeechToTextService implements SpeechToText {
  readonly provider: SttBackend['provider'];
  readonly model: string;
  readonly #o: SpeechToTextServiceOptions;

  constructor(options: SpeechToTextServiceOptions) {
    this.#o = options;
    this.provider = options.backend.provider;
    this.model = options.backend.model;
  }

  get limiter(): ConcurrencyLimiter {
    return this.#o.limiter;
  }

  async transcribe(req: SttRequest): Promise<Transcription> {
    const { limiter, retry } = this.#o;
    if (req.bestEffort) return this.#bestEffort(req);
    const upload = await this.#upload(req);
    const queuedAt = performance.now();
    let release: () => void;
    try {
      release = await limiter.acquire(req.signal);
    } catch (e) {
      throw new SttError('speech-to-text request cancelled while waiting for a free slot', { code: 'aborted', retryable: false, cause: e });
    }
    return this.#send(upload, req, release, retry, queuedAt);
  }

  /** See SttRequest.bestEffort: a free slot now or 'busy'; preempted by a request that waits; one attempt. */
  async #bestEffort(req: SttRequest): Promise<Transcription> {
    const busy = () => new SttError('no free speech-to-text slot for a best-effort request; not sent', { code: 'busy', retryable: false });
    const { limiter } = this.#o;
    // Checked before encoding too, so a busy service costs no encoding.
    if (limiter.waiting > 0 || limiter.active >= limiter.limit) throw busy();
    const upload = await this.#upload(req);
    const preempt = new AbortController();
    const release = limiter.tryAcquire(() => preempt.abort(new Error('slot taken back for a request that waits')));
    if (!release) throw busy();
    const signal = req.signal ? AbortSignal.any([req.signal, preempt.signal]) : preempt.signal;
    return this.#send(upload, { ...req, signal }, release, { ...this.#o.retry, maxAttempts: 1 }, performance.now());
  }

  async #upload(req: SttRequest) {
    const upload = await prepareUpload(req.audio, this.#o.uploadFormat ?? 'flac');
    const limit = this.#o.maxUploadBytes;
    if (limit !== undefined && upload.bytes.byteLength > limit) {
      throw new SttError(`the audio (${upload.bytes.byteLength} bytes for ${Math.round(upload.durationMs / 1000)} s) is above the provider's upload limit of ${limit} bytes (STT_MAX_UPLOAD_MB); not sent`, {
        code: 'too_large',
        retryable: false,
      });
    }
    return upload;
  }

  /** Sends holding the slot `release` frees, with retries per `retry`. */
  async #send(upload: Awaited<ReturnType<typeof prepareUpload>>, req: SttRequest, release: () => void, retry: RetryPolicy, queuedAt: number): Promise<Transcription> {
    const { backend, logger } = this.#o;
    const startedAt = performance.now();
    const log = logger?.child({ provider: backend.provider, model: backend.model, audioMs: upload.durationMs, bytes: upload.bytes.byteLength });
    try {
      const { value: raw, attempts } = await withRetry((ctx) => backend.send(upload, req, ctx), retry, {
        ...(req.signal ? { signal: req.signal } : {}),
        onRetry: ({ attempt, delayMs, error }) =>
          log?.warn({ attempt, delayMs, status: error.status, code: error.code }, 'speech-to-text attempt failed, retrying'),
      });
      const result = assemble(raw, req, upload.durationMs, backend, this.#o.filter);
      const ms = performance.now() - startedAt;
      sttLatency.observe({ provider: backend.provider }, ms / 1000);
      log?.debug(
        {
          attempts,
          queuedMs: Math.round(startedAt - queuedAt),
          ms: Math.round(ms),
          segments: result.segments.length,
          filtered: result.filtered,
        },
        'speech-to-text done',
      );
      return result;
    } catch (e) {
      const err = e as SttError;
      if (err.code !== 'aborted') {
        sttFailures.inc({ provider: backend.provider, kind: err.code ?? 'unknown' });
        log?.warn(
          { attempts: err.attempts, status: err.status, code: err.code, retryable: err.retryable, retryAfterMs: err.retryAfterMs, ms: Math.round(performance.now() - startedAt) },
          'speech-to-text failed',
        );
      }
      throw e;
    } finally {
      release();
    }
  }

  probe(signal?: AbortSignal): Promise<void> {
    return this.#o.backend.probe(signal);
  }
}

/** Provider answer -> Transcription: segments (or one spanning the audio), hallucinations dropped, confidence. */
export function assemble(
  raw: RawTranscription,
  req: Pick<SttRequest, 'language'>,
  durationMs: number,
  backend: Pick<SttBackend, 'provider' | 'model'>,
  thresholds?: Partial<FilterThresholds>,
): Transcription {
  // No timed segments (plain JSON, or an empty list beside a text): one segment for the whole upload.
  const segments: RecognisedSegment[] =
    raw.segments && raw.segments.length > 0
      ? raw.segments
      : raw.text
        ? [{ startMs: 0, endMs: durationMs, text: raw.text, noSpeechProb: null, avgLogprob: null, compressionRatio: null }]
        : [];
  const clamped = segments.map((s) => ({ ...s, startMs: clamp(s.startMs, 0, durationMs), endMs: clamp(Math.max(s.endMs, s.startMs), 0, durationMs) }));
  const { kept, filtered } = filterHallucinations(clamped, thresholds);
  return {
    text: joinSegmentTexts(kept),
    segments: kept,
    language: languageCode(raw.language) ?? req.language,
    confidence: confidenceOf(kept),
    filtered,
    durationMs,
    provider: backend.provider,
    model: backend.model,
  };
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
