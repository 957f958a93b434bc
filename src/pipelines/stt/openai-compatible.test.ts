/**
 * The OpenAI-compatible adapter, through retries and the concurrency limit, against the replay
 * server speaking the real protocol and answering from the fixture meeting's cassette.
 */
import { describe, expect, it } from 'vitest';
import {
  cassetteWithSilence,
  closedPort,
  cutUtterance,
  FAST_RETRY,
  openAiConfig,
  quietRoom,
  startStatusServer,
  utterance,
  sttRejection as rejection,
  useAdapterServers,
} from '../../../test/stt/harness.js';
import { createSpeechToText } from './index.js';

const ROUTE = 'openai.transcriptions';
const { replay, proxyTo, tmpFile, closeAfterTest } = useAdapterServers('openai');

describe('OpenAI-compatible speech-to-text', () => {
  it('returns the words of a cut utterance, with timing, language code and confidence', async () => {
    const s = await replay();
    const stt = createSpeechToText(openAiConfig(s.url));
    const u = await utterance('u03');
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
    expect(result.text).toBe(u.text);
    // One segment per sentence, as Whisper cuts them (the cassette's ground truth has the sentences).
    const sentences = u.sentences ?? [u];
    expect(result.segments.map((x) => x.text)).toEqual(sentences.map((x) => x.text));
    expect(result.segments[0]?.startMs).toBeGreaterThanOrEqual(150);
    expect(result.segments.at(-1)?.endMs).toBeLessThanOrEqual(result.durationMs);
    expect(result.durationMs).toBeCloseTo(u.endMs - u.startMs + 400, -2);
    expect(result.language).toBe('fr'); // the server says "french"
    expect(result.confidence).toBeCloseTo(Math.exp(-0.2), 3); // the cassette's avg_logprob
    expect(result.filtered).toEqual([]);
    expect(result.provider).toBe('openai-compatible');
    expect(result.model).toBe('whisper-large-v3');
    expect(s.stats().matched[ROUTE]).toBe(1);
  });

  it('uploads FLAC (never raw PCM) with verbose_json, segment timestamps, temperature 0, the glossary and the key', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    const stt = createSpeechToText(openAiConfig(proxy.url, { STT_API_KEY: 'sk-operator' }));
    const u = await utterance('u10');
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr', glossary: ['Chloé', 'AIPD', 'urbanisme'] });
    expect(result.text).toBe(u.text);

    const up = proxy.uploads.find((x) => x.path === '/v1/audio/transcriptions');
    expect(up?.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(up?.file).toMatchObject({ type: 'audio/flac', magic: 'fLaC' });
    expect(up?.file?.name).toMatch(/\.flac$/);
    // FLAC of 16 kHz mono is well under the 32 kB/s of raw PCM.
    expect(up?.file?.size).toBeLessThan(((u.endMs - u.startMs + 400) / 1000) * 32_000 * 0.8);
    expect(up?.authorization).toBe('Bearer sk-operator');
    expect(up?.fields).toEqual(
      expect.arrayContaining([
        ['model', 'whisper-large-v3'],
        ['language', 'fr'],
        ['response_format', 'verbose_json'],
        ['timestamp_granularities[]', 'segment'],
        ['temperature', '0'],
        ['prompt', 'Chloé, AIPD, urbanisme.'],
      ]),
    );
  });

  it('uploads Ogg Opus when configured, with the same transcript', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    const stt = createSpeechToText(openAiConfig(proxy.url), { uploadFormat: 'ogg-opus' });
    const u = await utterance('u07');
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
    expect(result.text).toBe(u.text);
    expect(proxy.uploads[0]?.file).toMatchObject({ type: 'audio/ogg', magic: 'OggS' });
  });

  it('rides out a 503 outage and returns the same transcript as without faults', async () => {
    const s = await replay();
    const u = await utterance('u05');
    const audio = await cutUtterance(u);
    const clean = await createSpeechToText(openAiConfig(s.url)).transcribe({ audio, language: 'fr' });

    s.setFaults({ route: ROUTE, status: 503, times: 2 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(result).toEqual(clean);
    expect(s.stats().faults[ROUTE]).toBe(2);
    expect(s.stats().calls[ROUTE]).toBe(4); // the clean call, two 503s, the success
  });

  it('also rides out an outage measured in time (500 for a window)', async () => {
    const s = await replay();
    const u = await utterance('u09');
    const audio = await cutUtterance(u);
    const stt = createSpeechToText(openAiConfig(s.url), { retry: { ...FAST_RETRY, maxAttempts: 10, baseDelayMs: 200, maxDelayMs: 400 } });
    s.setFaults({ route: ROUTE, status: 500, forMs: 600 });
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(result.text).toBe(u.text);
    expect(s.stats().faults[ROUTE]).toBeGreaterThanOrEqual(1);
  });

  it('waits at least as long as Retry-After says before asking again after a 429', async () => {
    const s = await replay();
    const u = await utterance('u06');
    const audio = await cutUtterance(u);
    s.setFaults({ route: ROUTE, status: 429, retryAfterSec: 1, times: 1 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const t0 = performance.now();
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(result.text).toBe(u.text);
    expect(s.stats().calls[ROUTE]).toBe(2);
  });

  it('does not wait for a Retry-After beyond the cap: fails at once, retryable, with the wait it was asked', async () => {
    const s = await replay();
    s.setFaults({ route: ROUTE, status: 429, retryAfterSec: 120 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u06')), language: 'fr' }));
    expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 120_000, attempts: 1 });
    expect(err.message).toMatch(/rate-limiting/);
    expect(s.stats().calls[ROUTE]).toBe(1);
  });

  it('fails fast on a 400, with a clear non-retryable error and no retry', async () => {
    const s = await replay();
    s.setFaults({ route: ROUTE, status: 400, times: 1 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u01')), language: 'fr' }));
    expect(err).toMatchObject({ code: 'http', status: 400, retryable: false, attempts: 1 });
    expect(err.message).toMatch(/rejected the request \(HTTP 400\)/);
    expect(s.stats().calls[ROUTE]).toBe(1);
  });

  it('gives up after the configured attempts when the service stays down, as a retryable error', async () => {
    const s = await replay();
    s.setFaults({ route: ROUTE, status: 502 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: { ...FAST_RETRY, maxAttempts: 3 } });
    const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u01')), language: 'fr' }));
    expect(err).toMatchObject({ status: 502, retryable: true, attempts: 3 });
    expect(s.stats().calls[ROUTE]).toBe(3);
  });

  it('abandons an attempt that exceeds STT_TIMEOUT_MS and retries it', async () => {
    const s = await replay();
    const u = await utterance('u04');
    const audio = await cutUtterance(u);
    // The timeout leaves room for the replay server's own decoding on a loaded 2-core machine:
    // only the delayed attempt may exceed it.
    s.setFaults({ route: ROUTE, latencyMs: 10_000, times: 1 });
    const stt = createSpeechToText(openAiConfig(s.url, { STT_TIMEOUT_MS: 3_000 }), { retry: FAST_RETRY });
    const t0 = performance.now();
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(3_000);
    expect(result.text).toBe(u.text);
    expect(s.stats().calls[ROUTE]).toBe(2);
  });

  it('retries a dropped connection', async () => {
    const s = await replay();
    const u = await utterance('u02');
    s.setFaults({ route: ROUTE, drop: true, times: 1 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
    expect(result.text).toBe(u.text);
    expect(s.stats().dropped[ROUTE]).toBe(1);
  });

  it('stops at once when the caller cancels, without retrying', async () => {
    const s = await replay();
    s.setFaults({ route: ROUTE, latencyMs: 5_000 });
    const stt = createSpeechToText(openAiConfig(s.url), { retry: FAST_RETRY });
    const audio = await cutUtterance(await utterance('u01'));
    const controller = new AbortController();
    const pending = rejection(stt.transcribe({ audio, language: 'fr', signal: controller.signal }));
    // Cancel once the request is at the server (the host pressed stop mid-transcription).
    while (!s.stats().calls[ROUTE]) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    const err = await pending;
    expect(err).toMatchObject({ code: 'aborted', retryable: false });
    expect(s.stats().calls[ROUTE]).toBe(1);
  });

  it('never has more than STT_CONCURRENCY requests in flight, and answers every one', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    s.setFaults({ route: ROUTE, latencyMs: 300 });
    const stt = createSpeechToText(openAiConfig(proxy.url, { STT_CONCURRENCY: 2 }), { retry: FAST_RETRY });
    const ids = ['u01', 'u03', 'u05', 'u08', 'u10', 'u14'];
    const utterances = await Promise.all(ids.map(utterance));
    const audios = await Promise.all(utterances.map((u) => cutUtterance(u)));
    const results = await Promise.all(audios.map((audio) => stt.transcribe({ audio, language: 'fr' })));
    expect(results.map((r) => r.text)).toEqual(utterances.map((u) => u.text));
    expect(proxy.maxInFlight).toBeLessThanOrEqual(2);
    expect(proxy.maxInFlight).toBe(2); // the limit is used, not just respected
    expect(stt.limiter.active).toBe(0);
  });

  it('drops a known hallucination on silence and counts it, keeping none of its text', async () => {
    const cassette = await cassetteWithSilence(tmpFile('amara.json'), {
      text: 'Sous-titres réalisés par la communauté d’Amara.org',
      // Whisper is often confident about it: only the phrase list can catch it.
      noSpeechProb: 0.2,
      avgLogprob: -0.3,
    });
    const s = await replay({ cassettes: [cassette] });
    const stt = createSpeechToText(openAiConfig(s.url));
    const result = await stt.transcribe({ audio: quietRoom(2_000), language: 'fr' });
    expect(s.stats().silence[ROUTE]).toBe(1);
    expect(result.text).toBe('');
    expect(result.segments).toEqual([]);
    expect(result.filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
    expect(result.confidence).toBeNull();
    expect(JSON.stringify(result)).not.toMatch(/Amara/i);
  });

  it('drops what Whisper itself rates as no speech, and loops, on noise', async () => {
    const cassette = await cassetteWithSilence(tmpFile('noise.json'), {
      text: 'Le projet avance bien.',
      noSpeechProb: 0.9,
      avgLogprob: -1.4,
    });
    const s = await replay({ cassettes: [cassette] });
    const stt = createSpeechToText(openAiConfig(s.url));
    const result = await stt.transcribe({ audio: quietRoom(1_500), language: 'fr' });
    expect(result.text).toBe('');
    expect(result.filtered).toEqual([{ reason: 'no_speech', count: 1 }]);
  });

  it('rejects audio that is not 16 kHz mono before sending anything', async () => {
    const s = await replay();
    const stt = createSpeechToText(openAiConfig(s.url));
    const err = await rejection(stt.transcribe({ audio: { samples: new Int16Array(48_000), sampleRate: 48_000, channels: 1 }, language: 'fr' }));
    expect(err).toMatchObject({ code: 'bad_request', retryable: false });
    expect(s.stats().calls[ROUTE]).toBeUndefined();
  });
});

describe('OpenAI-compatible probe', () => {
  it('accepts a server without /models whose transcription endpoint exists', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    await expect(createSpeechToText(openAiConfig(proxy.url)).probe()).resolves.toBeUndefined();
    expect(proxy.uploads.map((u) => `${u.method} ${u.path}`)).toEqual(['GET /v1/models', 'HEAD /v1/audio/transcriptions']);
    expect(s.stats().calls[ROUTE]).toBeUndefined(); // nothing transcribed, nothing billed
  });

  it('says STT_BASE_URL is wrong when neither /models nor the transcription endpoint exists', async () => {
    const s = await replay();
    const err = await rejection(createSpeechToText(openAiConfig(`${s.url}/wrong`)).probe());
    expect(err).toMatchObject({ status: 404, retryable: false });
    expect(err.message).toMatch(/Check STT_BASE_URL/);
  });

  it('says the key is refused on 401', async () => {
    const refusing = await startStatusServer(401);
    closeAfterTest(refusing);
    const err = await rejection(createSpeechToText(openAiConfig(refusing.url, { STT_API_KEY: 'sk-wrong' })).probe());
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect(err.message).toMatch(/refused the API key.*STT_API_KEY/);
    expect(err.message).not.toContain('sk-wrong');
  });

  it('says the service is unreachable when nothing listens', async () => {
    const port = await closedPort();
    const err = await rejection(createSpeechToText(openAiConfig(`http://127.0.0.1:${port}`)).probe());
    expect(err).toMatchObject({ code: 'connection', retryable: true });
    expect(err.message).toMatch(/unreachable \(ECONNREFUSED\)/);
  });
});
