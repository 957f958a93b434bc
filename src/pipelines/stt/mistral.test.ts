/**
 * The Mistral (Voxtral) adapter, with the real @mistralai/mistralai SDK, against the replay server
 * speaking Mistral's protocol and answering from the fixture meeting's cassette: what only this
 * provider does. The behaviours every adapter owes (words, outages, Retry-After, client errors,
 * timeouts, drops, cancel, concurrency, hallucinations, refused key, unreachable service) are in the
 * conformance suite, run from conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  cassetteWithSpeakers,
  cutTrack,
  cutUtterance,
  FAST_RETRY,
  meetingScript,
  mistralConfig,
  utterance,
  sttRejection as rejection,
  useAdapterServers,
} from '../../../test/stt/harness.js';
import { createSpeechToText } from './index.js';

const ROUTE = 'mistral.transcriptions';
const { replay, proxyTo, tmpFile } = useAdapterServers('mistral');

describe('Mistral speech-to-text', () => {
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

  it('has exactly one retry loop: the SDK’s own retries are off for the call', async () => {
    // Were the SDK's own retries on, each of our attempts would be several requests to the service.
    const s = await replay();
    const audio = await cutUtterance(await utterance('u04'));
    s.setFaults({ route: ROUTE, status: 503 });
    const err = await rejection(createSpeechToText(mistralConfig(s.url), { retry: { ...FAST_RETRY, maxAttempts: 3 } }).transcribe({ audio, language: 'fr' }));
    expect(err).toMatchObject({ status: 503, retryable: true, attempts: 3 });
    expect(s.stats().calls[ROUTE]).toBe(3); // not 3 x the SDK's attempts
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
});
