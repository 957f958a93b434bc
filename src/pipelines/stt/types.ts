/**
 * The speech-to-text contract: one interface, one adapter per provider (OpenAI-compatible Whisper
 * servers, Mistral Voxtral), wrapped in the same retry and concurrency limit (see index.ts).
 */
import type { PcmAudio } from '../audio/ffmpeg.js';

export type SttProvider = 'openai-compatible' | 'mistral';

export interface SttRequest {
  /** 16 kHz mono 16-bit PCM (other rates are rejected: the VAD and the fingerprinting assume 16 kHz). */
  audio: PcmAudio;
  /** ISO 639-1 code of the meeting language, e.g. "fr". */
  language: string;
  /**
   * Free-text prompt biasing the recogniser towards the meeting's vocabulary (Whisper `prompt`).
   * For Mistral it is split on commas, semicolons and new lines into `context_bias` terms.
   */
  prompt?: string;
  /** Glossary terms (names, acronyms). Whisper receives them joined into the prompt when `prompt` is absent. */
  glossary?: readonly string[];
  /** Ask for speaker labels where the provider offers diarization (Mistral); ignored elsewhere. */
  diarize?: boolean;
  signal?: AbortSignal;
  /**
   * Best effort (live interim captions): sent only if a slot of the concurrency limit is free now
   * and nobody waits for one (else SttError 'busy', nothing sent); the slot is given up to the first
   * request that would wait for one (SttError 'aborted'); one attempt, never retried.
   */
  bestEffort?: boolean;
}

export interface RecognisedSegment {
  /** Milliseconds from the start of the uploaded audio. */
  startMs: number;
  endMs: number;
  text: string;
  /** Whisper's probability that the segment is not speech (null when the provider does not say). */
  noSpeechProb: number | null;
  avgLogprob: number | null;
  compressionRatio: number | null;
  /** Provider's speaker label when diarization was asked and offered. */
  speaker?: string | null;
}

export type FilterReason = 'hallucination' | 'no_speech' | 'repetition';

export interface FilteredCount {
  reason: FilterReason;
  count: number;
}

export interface Transcription {
  /** Kept segments' texts joined with single spaces; '' when nothing was said. */
  text: string;
  /** Kept segments only: what the hallucination filter dropped is counted, never kept. */
  segments: RecognisedSegment[];
  /** ISO 639-1 code (the provider's detection when it gives one as a code, else the request's). */
  language: string;
  /** 0..1: duration-weighted mean of exp(avg_logprob) over kept segments; null when unknown. */
  confidence: number | null;
  filtered: FilteredCount[];
  /** Duration of the audio sent. */
  durationMs: number;
  provider: SttProvider;
  model: string;
}

export interface SpeechToText {
  readonly provider: SttProvider;
  readonly model: string;
  transcribe(req: SttRequest): Promise<Transcription>;
  /**
   * Cheap reachability probe for the API's pre-dispatch check: resolves when the service answers
   * and accepts the key; rejects with an SttError saying what is wrong otherwise. Never retried.
   */
  probe(signal?: AbortSignal): Promise<void>;
}

/** Why a call failed, in words an operator can act on. */
export type SttErrorCode =
  | 'http' // the service answered with an error status
  | 'timeout' // one attempt took longer than STT_TIMEOUT_MS
  | 'deadline' // the total deadline ran out (across retries)
  | 'connection' // refused, reset, DNS...
  | 'aborted' // the caller's signal
  | 'bad_response' // the answer did not have the expected shape
  | 'bad_request' // our own input was invalid (e.g. not 16 kHz mono)
  | 'too_large' // the upload is above the provider's size limit (STT_MAX_UPLOAD_MB): not sent
  | 'busy'; // a best-effort request found no free slot (STT_CONCURRENCY): not sent

export class SttError extends Error {
  override readonly name = 'SttError';
  readonly code: SttErrorCode;
  /** True when trying again later may succeed (the caller may spool the audio and retry). */
  readonly retryable: boolean;
  readonly status?: number;
  /** The service's Retry-After, when it gave one. */
  readonly retryAfterMs?: number;
  /** Attempts made before giving up (set by the retry layer). */
  attempts?: number;

  constructor(
    message: string,
    init: { code: SttErrorCode; retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.code = init.code;
    this.retryable = init.retryable;
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

/** One attempt of a provider call, given the attempt's own signal (caller's abort + per-attempt timeout). */
export interface AttemptContext {
  signal: AbortSignal;
  attempt: number;
}
