/**
 * The speech-to-text conformance suite: the behaviours every adapter owes its callers (the words
 * with timing, riding out outages, honouring Retry-After, failing fast on a client error, timeouts,
 * dropped connections, cancellation, the concurrency limit, hallucinations on silence, a refused key,
 * an unreachable service), run once per provider against the replay server speaking that provider's
 * real protocol, as livekit/agents-js runs one STT test set for each of its plugins.
 * What only one provider has (upload fields, probing, diarization, key fallback) stays in its own
 * test file next to the adapter.
 */
import { describe, expect, it } from 'vitest';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import {
  cassetteWithSilence,
  closedPort,
  cutUtterance,
  FAST_RETRY,
  quietRoom,
  startStatusServer,
  sttRejection as rejection,
  useAdapterServers,
  utterance,
  type SttTestConfig,
} from './harness.js';

export interface SttConformanceOptions {
  /** The describe block's title, e.g. "OpenAI-compatible". */
  name: string;
  /** The configuration of an adapter talking to `baseUrl` (the replay server or a proxy in front of it). */
  config(baseUrl: string, overrides?: Partial<SttTestConfig>): SttTestConfig;
  /** What every result names. */
  provider: string;
  model: string;
  /** The confidence the cassette yields for a clean utterance (null: the provider gives no log-probabilities). */
  confidence: number | null;
  /**
   * How the provider cuts a short utterance: one segment per sentence with its own timing (Whisper),
   * or one segment spanning the upload (Voxtral without timestamps, which it refuses with a language hint).
   */
  segmentation: 'sentence' | 'whole-upload';
  /** The client error this provider answers a malformed request with (400 Whisper servers, 422 Mistral). */
  clientErrorStatus: number;
  /** The error body a refusing server sends on 401, in the provider's own shape. */
  unauthorizedBody: unknown;
  /** A hallucination this provider is known to produce on silence, and how confident it is about it. */
  hallucination: { text: string; noSpeechProb: number; avgLogprob: number; leak: RegExp };
}

/**
 * Declares the suite for one adapter: `replayProvider` is the protocol the replay server speaks
 * (and its cassette entries), `o` what differs between providers by design.
 */
export function describeSttConformance(replayProvider: 'openai' | 'mistral', o: SttConformanceOptions): void {
  describe(`${o.name} speech-to-text conformance`, () => {
    const { replay, proxyTo, tmpFile, closeAfterTest } = useAdapterServers(replayProvider);
    // The replay server's route for this provider's transcriptions, as its stats and faults name it.
    const ROUTE = `${replayProvider}.transcriptions` as const;

    it('returns the words of a cut utterance, with timing, language code, confidence, provider and model', async () => {
      const s = await replay();
      const stt = createSpeechToText(o.config(s.url));
      const u = await utterance('u03');
      const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
      expect(result.text).toBe(u.text);
      if (o.segmentation === 'sentence') {
        // One segment per sentence (the cassette's ground truth has the sentences).
        const sentences = u.sentences ?? [u];
        expect(result.segments.map((x) => x.text)).toEqual(sentences.map((x) => x.text));
        expect(result.segments[0]?.startMs).toBeGreaterThanOrEqual(150);
      } else {
        expect(result.segments.map((x) => x.text)).toEqual([u.text]);
        expect(result.segments[0]?.startMs).toBeGreaterThanOrEqual(0);
      }
      expect(result.segments.at(-1)?.endMs).toBeLessThanOrEqual(result.durationMs);
      expect(result.durationMs).toBeCloseTo(u.endMs - u.startMs + 400, -2);
      expect(result.language).toBe('fr');
      if (o.confidence === null) expect(result.confidence).toBeNull();
      else expect(result.confidence).toBeCloseTo(o.confidence, 3);
      expect(result.filtered).toEqual([]);
      expect(result.provider).toBe(o.provider);
      expect(result.model).toBe(o.model);
      expect(s.stats().matched[ROUTE]).toBe(1);
    });

    it('rides out a 503 outage and returns the same transcript as without faults', async () => {
      const s = await replay();
      const u = await utterance('u05');
      const audio = await cutUtterance(u);
      const clean = await createSpeechToText(o.config(s.url)).transcribe({ audio, language: 'fr' });
      expect(clean.text).toBe(u.text);

      s.setFaults({ route: ROUTE, status: 503, times: 2 });
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
      const result = await stt.transcribe({ audio, language: 'fr' });
      expect(result).toEqual(clean);
      expect(s.stats().faults[ROUTE]).toBe(2);
      expect(s.stats().calls[ROUTE]).toBe(4); // the clean call, two 503s, the success
    });

    it('also rides out an outage measured in time (500 for a window)', async () => {
      const s = await replay();
      const u = await utterance('u09');
      const audio = await cutUtterance(u);
      const stt = createSpeechToText(o.config(s.url), { retry: { ...FAST_RETRY, maxAttempts: 10, baseDelayMs: 200, maxDelayMs: 400 } });
      s.setFaults({ route: ROUTE, status: 500, forMs: 600 });
      const result = await stt.transcribe({ audio, language: 'fr' });
      expect(result.text).toBe(u.text);
      expect(s.stats().faults[ROUTE]).toBeGreaterThanOrEqual(1);
    });

    it('gives up after the configured attempts when the service stays down, as a retryable error', async () => {
      const s = await replay();
      s.setFaults({ route: ROUTE, status: 502 });
      const stt = createSpeechToText(o.config(s.url), { retry: { ...FAST_RETRY, maxAttempts: 3 } });
      const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u01')), language: 'fr' }));
      expect(err).toMatchObject({ status: 502, retryable: true, attempts: 3 });
      expect(s.stats().calls[ROUTE]).toBe(3);
    });

    it('waits at least as long as Retry-After says before asking again after a 429', async () => {
      const s = await replay();
      const u = await utterance('u06');
      const audio = await cutUtterance(u);
      s.setFaults({ route: ROUTE, status: 429, retryAfterSec: 1, times: 1 });
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
      const t0 = performance.now();
      const result = await stt.transcribe({ audio, language: 'fr' });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1000);
      expect(result.text).toBe(u.text);
      expect(s.stats().calls[ROUTE]).toBe(2);
    });

    it('does not wait for a Retry-After beyond the cap: fails at once, retryable, with the wait it was asked', async () => {
      const s = await replay();
      s.setFaults({ route: ROUTE, status: 429, retryAfterSec: 120 });
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
      const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u06')), language: 'fr' }));
      expect(err).toMatchObject({ status: 429, retryable: true, retryAfterMs: 120_000, attempts: 1 });
      expect(err.message).toMatch(/rate-limiting/);
      expect(s.stats().calls[ROUTE]).toBe(1);
    });

    it(`fails fast on a ${o.clientErrorStatus}, with a clear non-retryable error and no retry`, async () => {
      const s = await replay();
      s.setFaults({ route: ROUTE, status: o.clientErrorStatus, times: 1 });
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
      const err = await rejection(stt.transcribe({ audio: await cutUtterance(await utterance('u01')), language: 'fr' }));
      expect(err).toMatchObject({ code: 'http', status: o.clientErrorStatus, retryable: false, attempts: 1 });
      expect(err.message).toMatch(new RegExp(`rejected the request \\(HTTP ${o.clientErrorStatus}\\)`));
      expect(s.stats().calls[ROUTE]).toBe(1);
    });

    it('abandons an attempt that exceeds STT_TIMEOUT_MS and retries it', async () => {
      const s = await replay();
      const u = await utterance('u04');
      const audio = await cutUtterance(u);
      // The timeout leaves room for the replay server's own decoding on a loaded 2-core machine:
      // only the delayed attempt may exceed it.
      s.setFaults({ route: ROUTE, latencyMs: 10_000, times: 1 });
      const stt = createSpeechToText(o.config(s.url, { STT_TIMEOUT_MS: 3_000 }), { retry: FAST_RETRY });
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
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
      const result = await stt.transcribe({ audio: await cutUtterance(u), language: 'fr' });
      expect(result.text).toBe(u.text);
      expect(s.stats().dropped[ROUTE]).toBe(1);
    });

    it('stops at once when the caller cancels, without retrying', async () => {
      const s = await replay();
      s.setFaults({ route: ROUTE, latencyMs: 5_000 });
      const stt = createSpeechToText(o.config(s.url), { retry: FAST_RETRY });
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
      const stt = createSpeechToText(o.config(proxy.url, { STT_CONCURRENCY: 2 }), { retry: FAST_RETRY });
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
      const { leak, ...silence } = o.hallucination;
      const cassette = await cassetteWithSilence(tmpFile('hallucination.json'), silence);
      const s = await replay({ cassettes: [cassette] });
      const stt = createSpeechToText(o.config(s.url));
      const result = await stt.transcribe({ audio: quietRoom(2_000), language: 'fr' });
      expect(s.stats().silence[ROUTE]).toBe(1);
      expect(result.text).toBe('');
      expect(result.segments).toEqual([]);
      expect(result.filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
      expect(result.confidence).toBeNull();
      expect(JSON.stringify(result)).not.toMatch(leak);
    });

    it('rejects audio that is not 16 kHz mono before sending anything', async () => {
      const s = await replay();
      const stt = createSpeechToText(o.config(s.url));
      const err = await rejection(stt.transcribe({ audio: { samples: new Int16Array(48_000), sampleRate: 48_000, channels: 1 }, language: 'fr' }));
      expect(err).toMatchObject({ code: 'bad_request', retryable: false });
      expect(s.stats().calls[ROUTE]).toBeUndefined();
    });

    it('says the key is refused on 401, naming the setting and never the key', async () => {
      const refusing = closeAfterTest(await startStatusServer(401, o.unauthorizedBody));
      const err = await rejection(createSpeechToText(o.config(refusing.url, { STT_API_KEY: 'sk-wrong-key' })).probe());
      expect(err).toMatchObject({ status: 401, retryable: false });
      expect(err.message).toMatch(/refused the API key.*STT_API_KEY/);
      expect(err.message).not.toContain('sk-wrong-key');
    });

    it('says the service is unreachable when nothing listens', async () => {
      const port = await closedPort();
      const err = await rejection(createSpeechToText(o.config(`http://127.0.0.1:${port}`)).probe());
      expect(err).toMatchObject({ code: 'connection', retryable: true });
      expect(err.message).toMatch(/unreachable \(ECONNREFUSED\)/);
    });
  });
}
