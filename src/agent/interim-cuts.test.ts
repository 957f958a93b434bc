/**
 * What interim captions cost and bring, offline and deterministic (issue #15 item 2): the fixture
 * meeting's tracks and the monologue through the real Silero, the real segmenter, the interim policy
 * and captioner, against a speech-to-text double on a simulated clock (every call answers in
 * LATENCY_MS) behind the real concurrency limiter, with finals and interims competing for its slots
 * as in the agent. Measured with INTERIM_CAPTIONS off and on: speech-to-text calls and seconds sent,
 * and each sentence's wait from its end to the first caption showing its words.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_DIR, fixtureScript } from '../../test/agent/harness.js';
import { makeMonologue, type Monologue } from '../../test/agent/monologue.js';
import { scoredTrack, type ScoredTrack } from '../../test/agent/silero-scores.js';
import { createLogger } from '../logging.js';
import { ConcurrencyLimiter } from '../pipelines/stt/concurrency.js';
import { SttError } from '../pipelines/stt/types.js';
import { InterimCaptions } from './interim-captions.js';
import { InterimPolicy } from './interim-policy.js';
import { SILERO_SAMPLE_RATE, SILERO_WINDOW_SAMPLES } from './silero-vad.js';
import type { LiveSpeechToText } from './utterance-processor.js';
import { SENTENCE_AFTER_MS, UtteranceSegmenter } from './utterance-segmenter.js';

/** Every simulated call answers after this long (the middle of the bench's 300-800 ms replay latency). */
const LATENCY_MS = 550;
const WINDOW_MS = (SILERO_WINDOW_SAMPLES * 1000) / SILERO_SAMPLE_RATE;
const toMs = (sample: number) => (sample * 1000) / SILERO_SAMPLE_RATE;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;
const logger = createLogger('interim-cuts-test', 'silent');

/** Simulated time (ms): timers fire in order as the simulation advances. */
class SimClock {
  now = 0;
  #timers: { due: number; fire: () => void }[] = [];

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = { due: this.now + ms, fire: resolve };
      this.#timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.#timers = this.#timers.filter((t) => t !== timer);
          reject(new SttError('cancelled', { code: 'aborted', retryable: false }));
        },
        { once: true },
      );
    });
  }

  async advanceTo(t: number): Promise<void> {
    for (;;) {
      await settle();
      const next = this.#timers.filter((x) => x.due <= t).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.now = next.due;
      next.fire();
    }
    this.now = t;
    await settle();
  }
}
/** Lets every promise chain started so far run to its next timer. */
const settle = () => new Promise<void>((r) => setImmediate(r));

interface Call {
  kind: 'final' | 'interim';
  seconds: number;
  startedAt: number;
  answeredAt: number | null;
}

/** The speech-to-text double: the real limiter's rules (finals wait, interims best effort), answers after LATENCY_MS of simulated time. */
class SimStt implements LiveSpeechToText {
  readonly provider = 'sim';
  readonly model = 'sim';
  readonly calls: Call[] = [];
  /** Interims granted a slot while a final waited for one (must stay 0). */
  grantedOverWaitingFinal = 0;
  readonly limiter: ConcurrencyLimiter;

  constructor(
    private readonly clock: SimClock,
    limit: number,
  ) {
    this.limiter = new ConcurrencyLimiter(limit);
  }

  async transcribe(req: Parameters<LiveSpeechToText['transcribe']>[0]) {
    let release: () => void;
    let signal = req.signal;
    if (req.bestEffort) {
      const preempt = new AbortController();
      const r = this.limiter.tryAcquire(() => preempt.abort());
      if (!r) throw new SttError('busy', { code: 'busy', retryable: false });
      if (this.limiter.waiting > 0) this.grantedOverWaitingFinal++;
      release = r;
      signal = req.signal ? AbortSignal.any([req.signal, preempt.signal]) : preempt.signal;
    } else {
      release = await this.limiter.acquire();
    }
    const call: Call = { kind: req.bestEffort ? 'interim' : 'final', seconds: req.audio.samples.length / SILERO_SAMPLE_RATE, startedAt: this.clock.now, answeredAt: null };
    this.calls.push(call);
    try {
      await this.clock.sleep(LATENCY_MS, signal);
    } finally {
      release();
    }
    call.answeredAt = this.clock.now;
    // A distinct text per call (the captioner does not republish an unchanged text).
    return { text: `${this.calls.length}`, language: 'fr', confidence: null, filtered: [], provider: this.provider, model: this.model };
  }
}

interface Track {
  identity: string;
  scored: ScoredTrack;
  /** Ground-truth sentence ends (ms into the track). */
  sentenceEnds: number[];
}

interface SimResult {
  finals: { identity: string; segmentId: string; speechEndMs: number; audioSeconds: number; captionAt: number }[];
  interims: { identity: string; segmentId: string; audioEndMs: number; shownAt: number }[];
  calls: Call[];
  grantedOverWaitingFinal: number;
  /** Per sentence: its end → its final caption, and → the first caption showing it (interim or final), ms. */
  finalWaits: number[];
  firstWaits: number[];
}

/** Plays the tracks together, window by window, through segmenter + (optionally) interim captions. */
async function simulate(tracks: Track[], o: { interims: boolean; sentencePauses: boolean; limit: number; everyMs?: number }): Promise<SimResult> {
  const clock = new SimClock();
  const stt = new SimStt(clock, o.limit);
  const finals: SimResult['finals'] = [];
  const interims: SimResult['interims'] = [];
  const running: Promise<void>[] = [];
  const perTrack = tracks.map((t) => {
    let sequence = 0;
    const next = () => Promise.resolve(++sequence).then((n) => ({ sequence: n, segmentId: `${t.identity}-${n}` }));
    const captions = o.interims
      ? new InterimCaptions({
          stt,
          language: 'fr',
          sampleRate: SILERO_SAMPLE_RATE,
          reserve: next,
          send: async () => undefined,
          logger,
          onShown: (s) => interims.push({ identity: t.identity, segmentId: s.segmentId, audioEndMs: toMs(s.endSample), shownAt: clock.now }),
        })
      : null;
    const policy = new InterimPolicy({ sampleRate: SILERO_SAMPLE_RATE, ...(o.everyMs ? { everyMs: o.everyMs } : {}) });
    const segmenter = new UtteranceSegmenter({ maxUtteranceMs: 30_000, sentenceAfterMs: o.sentencePauses ? SENTENCE_AFTER_MS : Infinity }, (u) => {
      const handover = captions?.cut();
      running.push(
        (async () => {
          const { segmentId } = await (handover?.reserved ?? next());
          await stt.transcribe({ audio: { samples: u.audio, sampleRate: SILERO_SAMPLE_RATE, channels: 1 }, language: 'fr' });
          await handover?.shown;
          finals.push({ identity: t.identity, segmentId, speechEndMs: toMs(u.speechEndSample), audioSeconds: u.audio.length / SILERO_SAMPLE_RATE, captionAt: clock.now });
        })(),
      );
    });
    return { t, segmenter, policy, captions };
  });
  const windows = Math.max(...tracks.map((t) => t.scored.windows.length));
  for (let i = 0; i < windows; i++) {
    await clock.advanceTo((i + 1) * WINDOW_MS);
    for (const { t, segmenter, policy, captions } of perTrack) {
      const w = t.scored.windows[i];
      if (!w) continue;
      segmenter.push({ samples: w, probability: t.scored.p[i]! });
      const point = captions && policy.observe(segmenter.inProgress);
      if (point) captions.request(point, (to, from) => segmenter.audioSoFar(to, from));
    }
  }
  for (const { segmenter } of perTrack) segmenter.flush();
  await clock.advanceTo(clock.now + 60_000);
  await Promise.all(running);

  const finalWaits: number[] = [];
  const firstWaits: number[] = [];
  for (const t of tracks) {
    for (const end of t.sentenceEnds) {
      const final = finals.find((f) => f.identity === t.identity && f.speechEndMs >= end - 100);
      if (!final) continue;
      const interim = interims.find((x) => x.segmentId === final.segmentId && x.audioEndMs >= end);
      finalWaits.push(final.captionAt - end);
      firstWaits.push(Math.min(final.captionAt, interim?.shownAt ?? Infinity) - end);
    }
  }
  return { finals, interims, calls: stt.calls, grantedOverWaitingFinal: stt.grantedOverWaitingFinal, finalWaits, firstWaits };
}

const volume = (r: SimResult, kind: Call['kind']) => {
  const calls = r.calls.filter((c) => c.kind === kind);
  return { calls: calls.length, seconds: calls.reduce((a, c) => a + c.seconds, 0) };
};
const summary = (label: string, off: SimResult, on: SimResult) => {
  const f = volume(off, 'final');
  const i = volume(on, 'interim');
  const pair = (xs: number[]) => `${quantile(xs, 0.5).toFixed(0)} / ${quantile(xs, 0.95).toFixed(0)} ms`;
  return (
    `${label}: finals ${f.calls} calls ${f.seconds.toFixed(1)} s; interims +${i.calls} calls (+${((i.calls / f.calls) * 100).toFixed(0)} %) ` +
    `+${i.seconds.toFixed(1)} s (+${((i.seconds / f.seconds) * 100).toFixed(0)} %), ${on.interims.length} shown; ` +
    `sentence end -> final caption p50/p95 ${pair(off.finalWaits)}, -> first caption ${pair(on.firstWaits)} (speech-to-text ${LATENCY_MS} ms included)`
  );
};

describe('interim captions on real speech (Silero + segmenter + policy + captioner, simulated speech-to-text)', () => {
  const script = fixtureScript();
  let monologue: Monologue;
  let fixtureTracks: Track[];
  let monologueTracks: Track[];
  beforeAll(async () => {
    monologue = await makeMonologue(mkdtempSync(join(tmpdir(), 'monologue-interims-')));
    fixtureTracks = await Promise.all(
      script.participants
        .filter((p) => !p.silent)
        .map(async (p) => ({
          identity: p.identity,
          scored: await scoredTrack(join(FIXTURE_DIR, p.file)),
          sentenceEnds: script.utterances.filter((u) => u.speaker === p.identity).flatMap((u) => u.sentences.map((s) => s.endMs)),
        })),
    );
    monologueTracks = [{ identity: 'orateur', scored: await scoredTrack(monologue.file), sentenceEnds: monologue.sentences.map((s) => s.endMs) }];
  }, 120_000);
  afterAll(() => monologue && rmSync(monologue.dir, { recursive: true, force: true }));

  for (const sentencePauses of [false, true]) {
    it(`leaves every final as it was and shows sentences earlier, at a measured cost (CAPTION_SENTENCE_PAUSES=${sentencePauses})`, async () => {
      // The default policy, and an interim every 2 s of speech for comparison (interim-policy.ts).
      for (const everyMs of [undefined, 2_000]) {
        for (const [label, tracks] of [
          ['fixture meeting', fixtureTracks],
          ['monologue', monologueTracks],
        ] as const) {
          const off = await simulate(tracks, { interims: false, sentencePauses, limit: 4 });
          const on = await simulate(tracks, { interims: true, sentencePauses, limit: 4, ...(everyMs ? { everyMs } : {}) });
          console.log(summary(`${label}, sentence pauses ${sentencePauses ? 'on' : 'off'}, ${everyMs ? `interim every ${everyMs} ms` : 'default policy'}, STT_CONCURRENCY 4`, off, on));
          // Segments unchanged: the same finals, same audio, captioned at the same moments.
          expect(on.finals.map((f) => [f.segmentId, f.speechEndMs, f.audioSeconds, f.captionAt])).toEqual(off.finals.map((f) => [f.segmentId, f.speechEndMs, f.audioSeconds, f.captionAt]));
          expect(volume(on, 'final')).toEqual(volume(off, 'final'));
          expect(on.grantedOverWaitingFinal).toBe(0);
          // Every interim carries the id of the final that replaces it and is shown before it.
          for (const x of on.interims) {
            const final = on.finals.find((f) => f.segmentId === x.segmentId);
            expect(final, x.segmentId).toBeDefined();
            expect(x.shownAt).toBeLessThan(final!.captionAt);
          }
          // Each interim sends only what its utterance added since the last one: never more audio than the finals.
          expect(volume(on, 'interim').seconds).toBeLessThanOrEqual(volume(off, 'final').seconds);
          // No sentence is shown later than without interims.
          expect(on.firstWaits).toHaveLength(off.finalWaits.length);
          for (const [i, w] of on.firstWaits.entries()) expect(w).toBeLessThanOrEqual(off.finalWaits[i]!);
          if (label === 'fixture meeting') {
            // The short sentences opening a turn are shown after their pause, not with the next sentence.
            expect(quantile(off.finalWaits, 0.95)).toBeGreaterThan(6_000);
            expect(quantile(on.firstWaits, 0.95) - LATENCY_MS).toBeLessThan(1_000);
          }
          if (!everyMs && label === 'fixture meeting') {
            // What the default costs (BENCHMARKS.md): on the fixture meeting at most +90 % calls, +40 % seconds.
            const [f, i] = [volume(off, 'final'), volume(on, 'interim')];
            expect(i.calls / f.calls).toBeLessThanOrEqual(0.9);
            expect(i.seconds / f.seconds).toBeLessThanOrEqual(0.4);
          }
        }
      }
    }, 120_000);
  }

  it('never delays a final when the speech-to-text limit is the bottleneck (STT_CONCURRENCY=1)', async () => {
    const off = await simulate(fixtureTracks, { interims: false, sentencePauses: true, limit: 1 });
    const on = await simulate(fixtureTracks, { interims: true, sentencePauses: true, limit: 1 });
    console.log(summary('fixture meeting, sentence pauses on, STT_CONCURRENCY 1', off, on));
    expect(on.finals.map((f) => [f.segmentId, f.captionAt])).toEqual(off.finals.map((f) => [f.segmentId, f.captionAt]));
    expect(on.grantedOverWaitingFinal).toBe(0);
    // With one slot, interims that held it when a final came were given up (never answered).
    const given = on.calls.filter((c) => c.kind === 'interim' && c.answeredAt === null);
    expect(given.length).toBeGreaterThan(0);
  }, 120_000);
});
