/**
 * The OpenAI-compatible adapter against the replay server speaking the real protocol and answering
 * from the fixture meeting's cassette: what only this provider does (the upload's format and fields,
 * Whisper's own no-speech rating, probing /models). The behaviours every adapter owes (words,
 * outages, Retry-After, client errors, timeouts, drops, cancel, concurrency, hallucinations, refused
 * key, unreachable service) are in the conformance suite, run from conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  cassetteWithSilence,
  cutUtterance,
  openAiConfig,
  quietRoom,
  utterance,
  sttRejection as rejection,
  useAdapterServers,
} from '../../../test/stt/harness.js';
import { createSpeechToText } from './index.js';

const ROUTE = 'openai.transcriptions';
const { replay, proxyTo, tmpFile } = useAdapterServers('openai');

describe('OpenAI-compatible speech-to-text', () => {
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
});
