/**
 * The Mistral (Voxtral) adapter, with the real @mistralai/mistralai SDK, against the replay server
 * speaking Mistral's protocol and answering from the fixture meeting's cassette.
 */
import { describe, expect, it } from 'vitest';
import {
  cassetteWithSilence,
  cassetteWithSpeakers,
  closedPort,
  cutTrack,
  cutUtterance,
  FAST_RETRY,
  meetingScript,
  mistralConfig,
  quietRoom,
  startStatusServer,
  utterance,
  sttRejection as rejection,
  useAdapterServers,
} from '../../../test/stt/harness.js';
import { createSpeechToText } from './index.js';

const ROUTE = 'mistral.transcriptions';
const { replay, proxyTo, tmpFile, closeAfterTest } = useAdapterServers('mistral');

describe('Mistral speech-to-text', () => {
  it('returns the words of a cut utterance', async () => {
    const s = await replay();
    const stt = createSpeechToText(mistralConfig(s.url));
    const u = await utterance('u02');
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
    expect(result.text).toBe(u.text);
    expect(result.language).toBe('fr');
    expect(result.provider).toBe('mistral');
    expect(result.model).toBe('voxtral-mini-latest');
    expect(result.confidence).toBeNull(); // Voxtral gives no log-probabilities
    expect(result.filtered).toEqual([]);
    expect(s.stats().matched[ROUTE]).toBe(1);
  });

  it('uploads FLAC with the language hint, the glossary as context bias and the key, through the SDK', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    const stt = createSpeechToText(mistralConfig(proxy.url, { STT_API_KEY: 'mistral-operator-key' }));
    const u = await utterance('u11');
    const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr', prompt: 'AIPD, Chloé Dubois; sous-traitants' });
    expect(result.text).toBe(u.text);

    const up = proxy.uploads.find((x) => x.path === '/v1/audio/transcriptions');
    expect(up?.file).toMatchObject({ type: 'audio/flac', magic: 'fLaC' });
    expect(up?.authorization).toBe('Bearer mistral-operator-key');
    expect(up?.fields).toEqual(
      expect.arrayContaining([
        ['model', 'voxtral-mini-latest'],
        ['language', 'fr'],
        ['temperature', '0'],
        ['context_bias', 'AIPD'],
        ['context_bias', 'Chloé Dubois'],
        ['context_bias', 'sous-traitants'],
      ]),
    );
    // The API refuses language together with timestamp granularities: a short utterance sends the language.
    expect(up?.fields.some(([k]) => k === 'timestamp_granularities')).toBe(false);
  });

  it('asks for segment timestamps on long audio, and places each utterance on the upload’s timeline', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    const stt = createSpeechToText(mistralConfig(proxy.url));
    const fromMs = 500;
    const lengthMs = 70_000;
    const result = await stt.transcribe({ audio: await cutTrack('alice.opus', fromMs, lengthMs), language: 'fr' });
    const expected = (await meetingScript()).utterances.filter((u) => u.speaker === 'alice' && (u.startMs + u.endMs) / 2 < fromMs + lengthMs);
    // One segment per sentence, as Voxtral cuts them (the cassette's ground truth has the sentences).
    const sentences = expected.flatMap((u) => u.sentences ?? [u]);
    expect(result.segments.map((x) => x.text)).toEqual(sentences.map((u) => u.text));
    result.segments.forEach((seg, i) => expect(seg.startMs).toBeCloseTo((sentences[i]?.startMs ?? 0) - fromMs, -2));
    expect(proxy.uploads[0]?.fields).toEqual(expect.arrayContaining([['timestamp_granularities', 'segment']]));
  });

  it('returns the provider’s speaker labels when diarization is asked', async () => {
    const cassette = await cassetteWithSpeakers(tmpFile('speakers.json'));
    const s = await replay({ cassettes: [cassette] });
    const proxy = await proxyTo(s);
    const stt = createSpeechToText(mistralConfig(proxy.url));
    const first = await utterance('u01');
    const second = await utterance('u02');
    const audio = await cutTrack('mixed.opus', first.startMs - 300, second.endMs - first.startMs + 600);
    const result = await stt.transcribe({ audio, language: 'fr', diarize: true });
    expect(result.segments.map((x) => [x.speaker, x.text])).toEqual([
      ...(first.sentences ?? [first]).map((x) => ['speaker_alice', x.text]),
      ...(second.sentences ?? [second]).map((x) => ['speaker_bruno', x.text]),
    ]);
    expect(proxy.uploads[0]?.fields).toEqual(expect.arrayContaining([['diarize', 'true']]));
  });

  it('rides out a 503 outage with exactly one retry loop (the SDK’s own retries are off for the call)', async () => {
    const s = await replay();
    const u = await utterance('u04');
    const audio = await cutUtterance(u);
    s.setFaults({ route: ROUTE, status: 503, times: 2 });
    const stt = createSpeechToText(mistralConfig(s.url), { retry: FAST_RETRY });
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(result.text).toBe(u.text);
    expect(s.stats().calls[ROUTE]).toBe(3);

    s.setFaults({ route: ROUTE, status: 503 });
    const err = await rejection(createSpeechToText(mistralConfig(s.url), { retry: { ...FAST_RETRY, maxAttempts: 3 } }).transcribe({ audio, language: 'fr' }));
    expect(err).toMatchObject({ status: 503, retryable: true, attempts: 3 });
    expect(s.stats().calls[ROUTE]).toBe(3 + 3); // not 3 x the SDK's attempts
  });

  it('waits at least as long as Retry-After says after a 429', async () => {
    const s = await replay();
    const u = await utterance('u07');
    const audio = await cutUtterance(u);
    s.setFaults({ route: ROUTE, status: 429, retryAfterSec: 1, times: 1 });
    const stt = createSpeechToText(mistralConfig(s.url), { retry: FAST_RETRY });
    const t0 = performance.now();
    const result = await stt.transcribe({ audio, language: 'fr' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(result.text).toBe(u.text);
    expect(s.stats().calls[ROUTE]).toBe(2);
  });

  it('fails fast on a 422 with a clear error', async () => {
    const s = await replay();
    s.setFaults({ route: ROUTE, status: 422, times: 1 });
    const stt = createSpeechToText(mistralConfig(s.url), { retry: FAST_RETRY });
    const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u01')), language: 'fr' }));
    expect(err).toMatchObject({ code: 'http', status: 422, retryable: false, attempts: 1 });
    expect(err.message).toMatch(/rejected the request \(HTTP 422\)/);
    expect(s.stats().calls[ROUTE]).toBe(1);
  });

  it('retries an attempt that exceeds STT_TIMEOUT_MS, and a dropped connection', async () => {
    const s = await replay();
    const u = await utterance('u13');
    const audio = await cutUtterance(u);
    // Room for the replay server's own decoding on a loaded machine: only the delayed attempt times out.
    s.setFaults({ route: ROUTE, latencyMs: 10_000, times: 1 });
    const stt = createSpeechToText(mistralConfig(s.url, { STT_TIMEOUT_MS: 3_000 }), { retry: FAST_RETRY });
    const t0 = performance.now();
    expect((await stt.transcribe({ audio, language: 'fr' })).text).toBe(u.text);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(3_000);
    expect(s.stats().calls[ROUTE]).toBe(2);

    s.setFaults({ route: ROUTE, drop: true, times: 1 });
    expect((await stt.transcribe({ audio, language: 'fr' })).text).toBe(u.text);
    expect(s.stats().dropped[ROUTE]).toBe(1);
  });

  it('drops Voxtral text on silence when it is a known hallucination', async () => {
    const cassette = await cassetteWithSilence(tmpFile('silence.json'), { text: 'Merci d’avoir regardé cette vidéo !', noSpeechProb: 0, avgLogprob: 0 });
    const s = await replay({ cassettes: [cassette] });
    const stt = createSpeechToText(mistralConfig(s.url));
    const result = await stt.transcribe({ audio: quietRoom(2_000), language: 'fr' });
    expect(s.stats().silence[ROUTE]).toBe(1);
    expect(result.text).toBe('');
    expect(result.filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
  });

  it('takes MISTRAL_API_KEY when STT_API_KEY is empty, and refuses to start with neither', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    const u = await utterance('u15');
    const stt = createSpeechToText(mistralConfig(proxy.url, { STT_API_KEY: '', MISTRAL_API_KEY: 'minutes-key' }));
    expect((await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' })).text).toBe(u.text);
    expect(proxy.uploads[0]?.authorization).toBe('Bearer minutes-key');
    expect(() => createSpeechToText(mistralConfig(s.url, { STT_API_KEY: '' }))).toThrow(/needs an API key/);
  });
});

describe('Mistral probe', () => {
  it('accepts a server that answers, without transcribing anything', async () => {
    const s = await replay();
    const proxy = await proxyTo(s);
    await expect(createSpeechToText(mistralConfig(proxy.url)).probe()).resolves.toBeUndefined();
    expect(proxy.uploads[0]).toMatchObject({ method: 'GET', path: '/v1/models', authorization: 'Bearer test-mistral-key' });
    expect(s.stats().calls[ROUTE]).toBeUndefined();
  });

  it('says the key is refused on 401', async () => {
    const refusing = await startStatusServer(401, { object: 'error', message: 'Unauthorized', type: 'invalid_request_error' });
    closeAfterTest(refusing);
    const err = await rejection(createSpeechToText(mistralConfig(refusing.url, { STT_API_KEY: 'wrong-key' })).probe());
    expect(err).toMatchObject({ status: 401, retryable: false });
    expect(err.message).toMatch(/refused the API key/);
    expect(err.message).not.toContain('wrong-key');
  });

  it('says the service is unreachable when nothing listens', async () => {
    const port = await closedPort();
    const err = await rejection(createSpeechToText(mistralConfig(`http://127.0.0.1:${port}`)).probe());
    expect(err).toMatchObject({ code: 'connection', retryable: true });
  });
});
