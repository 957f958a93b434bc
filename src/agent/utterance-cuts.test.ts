/**
 * Where the real segmenter, fed by the real Silero scorer, cuts the fixture meeting's tracks and a
 * fluent monologue, offline (no LiveKit, deterministic): sentences are never split, a monologue is
 * cut at every sentence end, and the speech-to-text volume (calls, seconds uploaded) stays close to
 * what cutting only at Silero's 550 ms end of speech costs (issue #15).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_DIR, fixtureScript } from '../../test/agent/harness.js';
import { makeMonologue, type Monologue } from '../../test/agent/monologue.js';
import { scoredTrack } from '../../test/agent/silero-scores.js';
import { SILERO_SAMPLE_RATE } from './silero-vad.js';
import { SENTENCE_AFTER_MS, UtteranceSegmenter, type CutUtterance, type SegmenterOptions } from './utterance-segmenter.js';

const script = fixtureScript();
const toMs = (sample: number) => (sample * 1000) / SILERO_SAMPLE_RATE;
/** Sentence pauses off (recordings, and CAPTION_SENTENCE_PAUSES=false): only Silero's end of speech ends an utterance under 15 s. */
const SILERO_END_ONLY: SegmenterOptions = { maxUtteranceMs: 30_000 };
/** Sentence pauses on (the live agent's default, CAPTION_SENTENCE_PAUSES=true). */
const SENTENCE_PAUSES: SegmenterOptions = { maxUtteranceMs: 30_000, sentenceAfterMs: SENTENCE_AFTER_MS };

interface Cut extends CutUtterance {
  /** Track time (ms) at which the segmenter emitted the utterance: when speech-to-text can start. */
  emittedMs: number;
}

async function cutsOf(path: string, options: SegmenterOptions): Promise<Cut[]> {
  const { windows, p } = await scoredTrack(path);
  const cuts: Cut[] = [];
  const seg = new UtteranceSegmenter(options, (u) => cuts.push({ ...u, emittedMs: toMs(seg.position) }));
  for (const [i, w] of windows.entries()) seg.push({ samples: w, probability: p[i]! });
  seg.flush();
  return cuts;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

describe('utterance cuts on real speech (Silero + segmenter, offline)', () => {
  let monologue: Monologue;
  beforeAll(async () => {
    monologue = await makeMonologue(mkdtempSync(join(tmpdir(), 'monologue-cuts-')));
  }, 60_000);
  afterAll(() => monologue && rmSync(monologue.dir, { recursive: true, force: true }));

  it('never splits a fixture sentence, nor joins two utterances, and cuts within 100 ms of the truth', async () => {
    for (const p of script.participants.filter((x) => !x.silent)) {
      const cuts = await cutsOf(join(FIXTURE_DIR, p.file), SENTENCE_PAUSES);
      const truth = script.utterances.filter((u) => u.speaker === p.identity);
      // Each cut lies within one utterance; each utterance is covered by its cuts, start to end.
      const owner = (c: Cut) => truth.findIndex((u) => toMs(c.speechStartSample) < u.endMs + 100 && toMs(c.speechEndSample) > u.startMs - 100);
      expect(cuts.map(owner), p.identity).not.toContain(-1);
      for (const [i, u] of truth.entries()) {
        const own = cuts.filter((c) => owner(c) === i);
        expect(own.length, u.id).toBeGreaterThan(0);
        expect(Math.abs(toMs(own[0]!.speechStartSample) - u.startMs), `${u.id} start`).toBeLessThan(100);
        expect(Math.abs(toMs(own.at(-1)!.speechEndSample) - u.endMs), `${u.id} end`).toBeLessThan(100);
        // Every sentence lies whole in one piece's audio, and every piece ends where a sentence does.
        for (const s of u.sentences) {
          const holders = own.filter((c) => toMs(c.audioStartSample) <= s.startMs && toMs(c.audioStartSample + c.audio.length) >= s.endMs);
          expect(holders.length, `${u.id} "${s.text.slice(0, 20)}"`).toBe(1);
        }
        for (const c of own) expect(Math.min(...u.sentences.map((s) => Math.abs(s.endMs - toMs(c.speechEndSample)))), `${u.id} piece end`).toBeLessThan(100);
      }
    }
  }, 120_000);

  it('costs the fixture meeting few more speech-to-text calls and no more seconds than Silero’s end of speech alone', async () => {
    const volume = async (options: SegmenterOptions) => {
      let calls = 0;
      let seconds = 0;
      // Each sentence's wait from its end to the cut of the utterance holding it.
      const waits: number[] = [];
      for (const p of script.participants.filter((x) => !x.silent)) {
        const cuts = await cutsOf(join(FIXTURE_DIR, p.file), options);
        for (const c of cuts) {
          calls++;
          seconds += c.audio.length / SILERO_SAMPLE_RATE;
        }
        for (const u of script.utterances.filter((x) => x.speaker === p.identity)) {
          for (const s of u.sentences) waits.push(cuts.find((c) => toMs(c.speechEndSample) >= s.endMs - 100)!.emittedMs - s.endMs);
        }
      }
      return { calls, seconds, wait: `p50 ${quantile(waits, 0.5).toFixed(0)} ms, p95 ${quantile(waits, 0.95).toFixed(0)} ms` };
    };
    const before = await volume(SILERO_END_ONLY);
    const after = await volume(SENTENCE_PAUSES);
    console.log(
      `fixture meeting: ${before.calls} -> ${after.calls} speech-to-text calls, ${before.seconds.toFixed(1)} -> ${after.seconds.toFixed(1)} s uploaded; ` +
        `sentence end -> utterance cut ${before.wait} -> ${after.wait}`,
    );
    expect(before.calls).toBe(script.utterances.length);
    // Four sentence cuts in 22 turns (in the turns whose first sentence is longer than 3.5 s): 26
    // calls. The issue asked for 1.1x; the sentence captions of a fluent speaker (monologue below)
    // are not reachable with fewer. A turn opening with a short sentence ("Bonjour.") is captioned
    // with its next sentence (p95 above ~6 s); cutting those too costs 40 calls (1.8x, BENCHMARKS.md).
    expect(after.calls / before.calls).toBeLessThanOrEqual(1.2);
    expect(after.seconds / before.seconds).toBeLessThanOrEqual(1.1);
  }, 120_000);

  it('cuts a fluent monologue (250 ms between sentences) at every sentence end, within half a second of it', async () => {
    const cuts = await cutsOf(monologue.file, SENTENCE_PAUSES);
    expect(cuts).toHaveLength(monologue.sentences.length);
    const delays: number[] = [];
    for (const [i, s] of monologue.sentences.entries()) {
      const c = cuts[i]!;
      expect(Math.abs(toMs(c.speechEndSample) - s.endMs), `sentence ${i + 1} end`).toBeLessThan(100);
      expect(toMs(c.audioStartSample)).toBeLessThanOrEqual(s.startMs);
      delays.push(c.emittedMs - s.endMs);
    }
    // Before sentence pauses, a sentence waited for the cut that came at the next pause from 15 s on.
    const before = await cutsOf(monologue.file, SILERO_END_ONLY);
    const waited = monologue.sentences.map((s) => before.find((c) => toMs(c.speechEndSample) >= s.endMs - 100)!.emittedMs - s.endMs);
    console.log(
      `monologue: sentence end -> utterance cut p50 ${quantile(delays, 0.5).toFixed(0)} ms, p95 ${quantile(delays, 0.95).toFixed(0)} ms ` +
        `(Silero's end of speech only: ${before.length} cuts, p50 ${quantile(waited, 0.5).toFixed(0)} ms, p95 ${quantile(waited, 0.95).toFixed(0)} ms)`,
    );
    expect(quantile(delays, 0.95)).toBeLessThan(500);
    expect(quantile(waited, 0.5)).toBeGreaterThan(5_000);
  }, 120_000);
});
