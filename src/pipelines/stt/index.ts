/**
 * Speech-to-text: `createSpeechToText(config)` picks the adapter named by STT_PROVIDER and wraps it
 * in the shared retry policy and the per-process concurrency limit.
 *
 * - openai-compatible: `{STT_BASE_URL}/audio/transcriptions` with STT_API_KEY (optional).
 * - mistral: Voxtral at STT_BASE_URL (a trailing /v1 is dropped: the SDK adds it), key STT_API_KEY
 *   or else MISTRAL_API_KEY. STT_MODEL must then be a Voxtral model (e.g. voxtral-mini-latest).
 */
import type { UploadFormat } from '../audio/ffmpeg.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../logging.js';
import type { SttBackend } from './backend.js';
import { ConcurrencyLimiter } from './concurrency.js';
import type { FilterThresholds } from './hallucinations.js';
import { MistralBackend } from './mistral.js';
import { OpenAiCompatibleBackend } from './openai-compatible.js';
import { defaultRetryPolicy, type RetryPolicy } from './retry.js';
import { SpeechToTextService } from './service.js';

export type SttConfig = Pick<Config, 'STT_PROVIDER' | 'STT_BASE_URL' | 'STT_API_KEY' | 'STT_MODEL' | 'STT_CONCURRENCY' | 'STT_TIMEOUT_MS'> &
  Partial<Pick<Config, 'MISTRAL_API_KEY' | 'MISTRAL_SERVER_URL' | 'STT_MAX_UPLOAD_MB'>>;

export interface CreateSpeechToTextOptions {
  logger?: Logger;
  /** Override parts of the retry policy (tests, the batch pipeline's longer deadline). */
  retry?: Partial<RetryPolicy>;
  /** Share one limiter between several instances of the same process (default: a new one of STT_CONCURRENCY). */
  limiter?: ConcurrencyLimiter;
  /** 'flac' (default) or 'ogg-opus'. */
  uploadFormat?: UploadFormat;
  filter?: Partial<FilterThresholds>;
}

export function createSttBackend(config: SttConfig): SttBackend {
  switch (config.STT_PROVIDER) {
    case 'openai-compatible':
      return new OpenAiCompatibleBackend({
        baseUrl: config.STT_BASE_URL,
        model: config.STT_MODEL,
        ...(config.STT_API_KEY ? { apiKey: config.STT_API_KEY } : {}),
      });
    case 'mistral':
      return new MistralBackend({
        apiKey: config.STT_API_KEY || config.MISTRAL_API_KEY || '',
        serverURL: config.STT_BASE_URL || config.MISTRAL_SERVER_URL || 'https://api.eu.mistral.ai',
        model: config.STT_MODEL,
      });
  }
}

export function createSpeechToText(config: SttConfig, options: CreateSpeechToTextOptions = {}): SpeechToTextService {
  return new SpeechToTextService({
    backend: createSttBackend(config),
    limiter: options.limiter ?? new ConcurrencyLimiter(config.STT_CONCURRENCY),
    retry: { ...defaultRetryPolicy(config.STT_TIMEOUT_MS), ...options.retry },
    ...(options.uploadFormat ? { uploadFormat: options.uploadFormat } : {}),
    ...(options.filter ? { filter: options.filter } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(config.STT_MAX_UPLOAD_MB !== undefined ? { maxUploadBytes: config.STT_MAX_UPLOAD_MB * 1024 * 1024 } : {}),
  });
}

export { SpeechToTextService } from './service.js';
export { ConcurrencyLimiter } from './concurrency.js';
export { defaultRetryPolicy, type RetryPolicy } from './retry.js';
export { filterHallucinations, confidenceOf } from './hallucinations.js';
export * from './types.js';
