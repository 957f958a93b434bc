import { describe, expect, it } from 'vitest';
import { errorDetail, httpError, languageCode, termsOf } from './backend.js';
import { parseOpenAiTranscription } from './openai-compatible.js';
import { ConcurrencyLimiter } from './concurrency.js';
import { defaultRetryPolicy } from './retry.js';
import { assemble, SpeechToTextService } from './service.js';
import { SttError } from './types.js';

const backend = { provider: 'openai-compatible' as const, model: 'whisper-large-v3' };

describe('assemble', () => {
  it('makes one segment spanning the audio when the server answered plain {text}', () => {
    const raw = parseOpenAiTranscription(JSON.stringify({ text: ' Bonjour à tous. ' }));
    const t = assemble(raw, { language: 'fr' }, 2_400, backend);
    expect(t).toMatchObject({ text: 'Bonjour à tous.', language: 'fr', confidence: null, durationMs: 2_400, filtered: [] });
    expect(t.segments).toEqual([{ startMs: 0, endMs: 2_400, text: 'Bonjour à tous.', noSpeechProb: null, avgLogprob: null, compressionRatio: null }]);
  });

  it('joins kept verbose_json segments, clamps their times to the audio, and reads the language name', () => {
    const raw = parseOpenAiTranscription(
      JSON.stringify({
        task: 'transcribe',
        language: 'french',
        duration: 3.2,
        text: 'x',
        segments: [
          { id: 0, start: 0.1, end: 1.5, text: ' Bonjour.', avg_logprob: -0.1, no_speech_prob: 0.01, compression_ratio: 0.9 },
          { id: 1, start: 1.5, end: 3.4, text: ' Sous-titrage ST’ 501', avg_logprob: -0.2, no_speech_prob: 0.1, compression_ratio: 1 },
        ],
      }),
    );
    const t = assemble(raw, { language: 'en' }, 3_200, backend);
    expect(t.text).toBe('Bonjour.');
    expect(t.language).toBe('fr');
    expect(t.segments[0]).toMatchObject({ startMs: 100, endMs: 1_500 });
    expect(t.filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
    expect(t.confidence).toBeCloseTo(Math.exp(-0.1), 6);
  });

  it('reports an answer of the wrong shape clearly, without retrying it', () => {
    expect(() => parseOpenAiTranscription('<html>Bad gateway</html>')).toThrow(/not JSON/);
    const err = (() => {
      try {
        parseOpenAiTranscription(JSON.stringify({ segments: [] }));
      } catch (e) {
        return e as SttError;
      }
      throw new Error('should have failed');
    })();
    expect(err).toBeInstanceOf(SttError);
    expect(err).toMatchObject({ code: 'bad_response', retryable: false });
    expect(err.message).toMatch(/text/);
  });
});

describe('provider helpers', () => {
  it('maps language names and codes to ISO 639-1', () => {
    expect(languageCode('french')).toBe('fr');
    expect(languageCode('English')).toBe('en');
    expect(languageCode('fr')).toBe('fr');
    expect(languageCode('fr-FR')).toBe('fr');
    expect(languageCode('klingonese')).toBeUndefined();
    expect(languageCode(null)).toBeUndefined();
  });

  it('extracts the provider’s message from OpenAI, FastAPI and Mistral error bodies', () => {
    expect(errorDetail('{"error":{"message":"Invalid file format.","type":"invalid_request_error"}}')).toBe('Invalid file format.');
    expect(errorDetail('{"object":"error","message":"Unauthorized"}')).toBe('Unauthorized');
    expect(errorDetail('{"detail":[{"msg":"field required"},{"msg":"bad value"}]}')).toBe('field required; bad value');
    expect(errorDetail('<html>502</html>')).toBeUndefined();
  });

  it('classifies statuses and names the setting to fix', () => {
    expect(httpError(503, undefined, { settingHint: 'STT_API_KEY', endpoint: 'x' })).toMatchObject({ retryable: true, status: 503 });
    expect(httpError(429, undefined, { settingHint: 'STT_API_KEY', endpoint: 'x', retryAfterMs: 2000 })).toMatchObject({ retryable: true, retryAfterMs: 2000 });
    expect(httpError(403, 'nope', { settingHint: 'STT_API_KEY', endpoint: 'x' }).message).toMatch(/refused the API key \(HTTP 403\): nope\. Check STT_API_KEY/);
    expect(httpError(404, undefined, { settingHint: 'STT_API_KEY', endpoint: 'http://h/v1/audio/transcriptions' }).message).toMatch(/Check STT_BASE_URL/);
    expect(httpError(400, undefined, { settingHint: 'k', endpoint: 'x' }).retryable).toBe(false);
  });

  it('splits a glossary prompt into context-bias terms', () => {
    expect(termsOf('AIPD, Chloé Dubois;\nurbanisme.')).toEqual(['AIPD', 'Chloé Dubois', 'urbanisme']);
    expect(termsOf(undefined)).toEqual([]);
  });
});

describe('the provider’s upload limit', () => {
  it('refuses an upload above STT_MAX_UPLOAD_MB before sending it (too_large, not retryable)', async () => {
    let sent = 0;
    const service = new SpeechToTextService({
      backend: {
        provider: 'openai-compatible',
        model: 'whisper-large-v3',
        send: async () => {
          sent++;
          return { text: '', segments: [], language: 'fr' };
        },
        probe: async () => undefined,
      },
      limiter: new ConcurrencyLimiter(1),
      retry: defaultRetryPolicy(),
      maxUploadBytes: 10_000,
    });
    const noise = Int16Array.from({ length: 16_000 * 3 }, () => Math.round((Math.random() - 0.5) * 20_000));
    const err = await service.transcribe({ audio: { samples: noise, sampleRate: 16_000, channels: 1 }, language: 'fr' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SttError);
    expect(err).toMatchObject({ code: 'too_large', retryable: false });
    expect((err as Error).message).toMatch(/above the provider's upload limit of 10000 bytes \(STT_MAX_UPLOAD_MB\); not sent/);
    expect(sent).toBe(0);
  });
});

describe('best-effort requests (live interim captions)', () => {
  /** A backend whose calls wait until answered or aborted; `sent` counts calls, `failures` the attempts that failed. */
  function gatedBackend() {
    const calls: { answer: () => void; fail: () => void; signal: AbortSignal }[] = [];
    return {
      calls,
      backend: {
        provider: 'openai-compatible' as const,
        model: 'whisper-large-v3',
        send: (_u: unknown, _r: unknown, ctx: { signal: AbortSignal }) =>
          new Promise<{ text: string; segments: never[]; language: string }>((resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(new SttError('cancelled', { code: 'aborted', retryable: false })), { once: true });
            calls.push({
              answer: () => resolve({ text: 'Bonjour.', segments: [], language: 'fr' }),
              fail: () => reject(new SttError('503', { code: 'http', status: 503, retryable: true })),
              signal: ctx.signal,
            });
          }),
        probe: async () => undefined,
      },
    };
  }
  const speech = () => ({ audio: { samples: new Int16Array(16_000), sampleRate: 16_000, channels: 1 as const }, language: 'fr' });
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  };

  it('is refused (busy, nothing sent) when every slot is taken, and a final waiting for the slot takes it back from one in flight', async () => {
    const { backend, calls } = gatedBackend();
    const limiter = new ConcurrencyLimiter(1);
    const service = new SpeechToTextService({ backend, limiter, retry: defaultRetryPolicy() });
    const interim = service.transcribe({ ...speech(), bestEffort: true }).catch((e: unknown) => e);
    await until(() => calls.length === 1);
    // A second best-effort request finds the only slot taken: refused, never queued.
    await expect(service.transcribe({ ...speech(), bestEffort: true })).rejects.toMatchObject({ code: 'busy' });
    expect(limiter.waiting).toBe(0);
    // A final arrives: the interim in flight is aborted and the final is sent at once.
    const final = service.transcribe(speech());
    expect(await interim).toMatchObject({ code: 'aborted' });
    await until(() => calls.length === 2);
    calls[1]!.answer();
    await expect(final).resolves.toMatchObject({ text: 'Bonjour.' });
    expect(limiter.active).toBe(0);
  });

  it('is tried once: a failure that a final would retry is not retried', async () => {
    const { backend, calls } = gatedBackend();
    const service = new SpeechToTextService({ backend, limiter: new ConcurrencyLimiter(2), retry: { ...defaultRetryPolicy(), baseDelayMs: 1, maxDelayMs: 1 } });
    const interim = service.transcribe({ ...speech(), bestEffort: true }).catch((e: unknown) => e);
    await until(() => calls.length === 1);
    calls[0]!.fail();
    expect(await interim).toMatchObject({ code: 'http' });
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(1);
  });
});
