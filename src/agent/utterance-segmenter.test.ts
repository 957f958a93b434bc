import { describe, expect, it } from 'vitest';
import { SENTENCE_AFTER_MS, UtteranceSegmenter, type CutUtterance, type SegmenterOptions } from './utterance-segmenter.js';

const SR = 16_000;
const WINDOW = 512; // Silero's window at 16 kHz: 32 ms

/** Feeds windows whose samples carry their own position (so lost or doubled audio shows). */
function feed(seg: UtteranceSegmenter, speaking: (ms: number) => boolean, totalMs: number): void {
  for (let pos = 0; (pos * 1000) / SR < totalMs; pos += WINDOW) {
    const samples = new Int16Array(WINDOW).map((_, i) => ((pos + i) % 30_000) + 1);
    seg.push({ samples, probability: speaking((pos * 1000) / SR) ? 0.9 : 0.05 });
  }
}

const ms = (samples: number) => (samples * 1000) / SR;
/** Sentence pauses on, as the live agent runs by default (CAPTION_SENTENCE_PAUSES=true). */
const ON: SegmenterOptions = { maxUtteranceMs: 30_000, sentenceAfterMs: SENTENCE_AFTER_MS };
/** The segmenter's default (recordings, and CAPTION_SENTENCE_PAUSES=false): no sentence pauses. */
const OFF: SegmenterOptions = { maxUtteranceMs: 30_000 };

/**
 * Feeds 90 s of speech (6 s sentences separated by 250 ms pauses) and checks the pieces: at most
 * the 30 s maximum and at least `minPieceMs` long (but the last), every cut but the last inside a
 * pause, never inside a sentence, and together they hold every speech sample.
 */
function expectMonologueCutAtPauses(seg: UtteranceSegmenter, cuts: CutUtterance[], minPieceMs: number): void {
  const speaking = (t: number) => t < 90_000 && t % 6_250 < 6_000;
  feed(seg, speaking, 91_000);
  expect(cuts.length).toBeGreaterThanOrEqual(3);
  for (const c of cuts) {
    expect(ms(c.speechEndSample - c.speechStartSample)).toBeLessThanOrEqual(30_000);
    if (c === cuts.at(-1)) continue;
    expect(ms(c.speechEndSample - c.speechStartSample)).toBeGreaterThanOrEqual(minPieceMs);
    expect(speaking(ms(c.speechEndSample) + 100)).toBe(false);
  }
  for (let t = 0; t < 90_000; t += 50) {
    if (!speaking(t)) continue;
    const s = (t * SR) / 1000;
    expect(cuts.some((c) => s >= c.audioStartSample && s < c.audioStartSample + c.audio.length), `${t} ms`).toBe(true);
  }
}

describe('UtteranceSegmenter with sentence pauses on', () => {
  it('cuts an utterance at a pause longer than the minimum silence, with speech times on the track clock', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    feed(seg, (t) => (t >= 1_000 && t < 3_000) || (t >= 5_000 && t < 6_000), 8_000);
    expect(cuts).toHaveLength(2);
    expect(ms(cuts[0]!.speechStartSample)).toBeCloseTo(1_000, -2);
    expect(ms(cuts[0]!.speechEndSample)).toBeCloseTo(3_000, -2);
    expect(ms(cuts[1]!.speechStartSample)).toBeCloseTo(5_000, -2);
    expect(cuts.every((c) => c.reason === 'pause')).toBe(true);
    // 300 ms of pre-roll before the detected start, and the audio is the track's own.
    expect(ms(cuts[0]!.speechStartSample - cuts[0]!.audioStartSample)).toBeCloseTo(300, -2);
    expect(cuts[0]!.audio[0]).toBe((cuts[0]!.audioStartSample % 30_000) + 1);
  });

  it('does not cut at pauses shorter than the minimum silence while the utterance is under 3.5 s', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    // "Bonjour." then a 3 s sentence: 300 ms pauses, the utterance never 3.5 s long at a pause.
    feed(seg, (t) => (t >= 1_000 && t < 1_500) || (t >= 1_800 && t < 4_300), 6_000);
    expect(cuts).toHaveLength(1);
    expect(cuts[0]!.reason).toBe('pause');
  });

  it('ends an utterance past 3.5 s at a sentence pause (~250 ms) but not at a pause inside a sentence', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    // Sentences of 4 s joined by 250 ms pauses, each with a 128 ms pause (a comma) in its middle.
    const sentence = (t: number) => t % 4_250 < 4_000 && Math.abs((t % 4_250) - 2_000) >= 64;
    feed(seg, (t) => t < 4 * 4_250 - 250 && sentence(t), 18_000);
    expect(cuts.map((c) => c.reason)).toEqual(Array(4).fill('sentence_pause'));
    for (const [i, c] of cuts.entries()) {
      expect(ms(c.speechStartSample)).toBeCloseTo(i * 4_250, -2);
      expect(ms(c.speechEndSample)).toBeCloseTo(i * 4_250 + 4_000, -2);
    }
    // The utterance is handed over about 200 ms after the sentence ended, not 550 ms.
    expect(ms(cuts[0]!.audioStartSample + cuts[0]!.audio.length) - 4_000).toBeLessThan(250);
  });

  it('lets shorter pauses end an utterance the longer it grows', () => {
    const firstCut = (pauseMs: number) => {
      const cuts: CutUtterance[] = [];
      const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
      // Speech with a pause of `pauseMs` every second.
      feed(seg, (t) => t % 1_000 < 1_000 - pauseMs, 30_000);
      return ms(cuts[0]!.speechEndSample);
    };
    const at = [192, 160, 128, 96].map(firstCut);
    // 192 ms: as soon as the utterance is 3.5 s long; 160 ms: only from half the maximum (15 s) on.
    expect(at[0]).toBeCloseTo(3_808, -2);
    expect(at[1]).toBeCloseTo(15_840, -2);
    for (let i = 1; i < at.length; i++) expect(at[i]).toBeGreaterThan(at[i - 1]!);
    expect(at.at(-1)).toBeLessThan(30_000);
  });

  it('cuts a long monologue at its pauses into pieces no longer than the maximum, losing nothing', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    expectMonologueCutAtPauses(seg, cuts, 0);
  });

  it('hard-cuts speech without any pause at the maximum, and the next piece continues where it stopped', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    feed(seg, (t) => t < 70_000, 71_000);
    expect(cuts.map((c) => c.reason)).toEqual(['max_length', 'max_length', 'sentence_pause']);
    expect(ms(cuts[0]!.speechEndSample - cuts[0]!.speechStartSample)).toBeLessThanOrEqual(30_000);
    expect(cuts[1]!.speechStartSample).toBe(cuts[0]!.audioStartSample + cuts[0]!.audio.length);
    expect(cuts[1]!.audioStartSample).toBe(cuts[1]!.speechStartSample);
  });

  it('emits the utterance in progress on flush, and nothing when nobody spoke', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    feed(seg, () => false, 5_000);
    seg.flush();
    expect(cuts).toHaveLength(0);
    feed(seg, () => true, 2_000);
    seg.flush();
    expect(cuts).toHaveLength(1);
    expect(cuts[0]!.reason).toBe('flush');
  });

  it('drops a blip too short to hold a word, but keeps a short word and the short end of a monologue', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(ON, (u) => cuts.push(u));
    // A 96 ms click, then a 250 ms "oui", then a click just as the track ends.
    feed(seg, (t) => (t >= 1_000 && t < 1_096) || (t >= 3_000 && t < 3_250) || t >= 5_000, 5_100);
    seg.flush();
    expect(cuts).toHaveLength(1);
    expect(ms(cuts[0]!.speechStartSample)).toBeCloseTo(3_000, -2);
    expect(seg.dropped).toBe(2);
    // 30 s of speech and 64 ms more: the tiny second piece is part of the monologue, kept.
    const pieces: CutUtterance[] = [];
    const mono = new UtteranceSegmenter(ON, (u) => pieces.push(u));
    feed(mono, (t) => t < 30_040, 31_000);
    expect(pieces.map((c) => c.reason)).toEqual(['max_length', 'pause']);
    expect(mono.dropped).toBe(0);
  });
});

describe('UtteranceSegmenter by default (sentence pauses off: live agent default, recordings)', () => {
  it('does not cut at pauses shorter than the minimum silence while the utterance is under half the maximum', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(OFF, (u) => cuts.push(u));
    // 8 s of speech with a 300 ms pause every 2 s.
    feed(seg, (t) => t < 8_000 && t % 2_000 < 1_700, 9_000);
    expect(cuts).toHaveLength(1);
    expect(cuts[0]!.reason).toBe('pause');
  });

  it('does not end an utterance at a sentence pause (~250 ms) before half the maximum, then does at 160 ms', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(OFF, (u) => cuts.push(u));
    // The sentences of the sentence-pause test above: 4 s joined by 250 ms pauses.
    const sentence = (t: number) => t % 4_250 < 4_000 && Math.abs((t % 4_250) - 2_000) >= 64;
    feed(seg, (t) => t < 8 * 4_250 - 250 && sentence(t), 36_000);
    // The first pause past 15 s of speech ends it (after the fourth sentence: 17 s), not each sentence.
    expect(cuts.map((c) => c.reason)).toEqual(['long_pause', 'long_pause']);
    expect(ms(cuts[0]!.speechEndSample)).toBeCloseTo(3 * 4_250 + 4_000, -2);
  });

  it('cuts a long monologue at its pauses into pieces no longer than the maximum, losing nothing', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(OFF, (u) => cuts.push(u));
    // No piece but the last is shorter than half the maximum: sentences are not cut apart.
    expectMonologueCutAtPauses(seg, cuts, 15_000);
  });

  it('hard-cuts speech without any pause at the maximum, and ends the rest at Silero\'s end of speech', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(OFF, (u) => cuts.push(u));
    feed(seg, (t) => t < 70_000, 71_000);
    expect(cuts.map((c) => c.reason)).toEqual(['max_length', 'max_length', 'pause']);
  });

  it('from 80 % of the maximum on, ends an utterance at a 64 ms pause', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter(OFF, (u) => cuts.push(u));
    // Speech with a 96 ms pause every second: too short before 24 s.
    feed(seg, (t) => t < 29_500 && t % 1_000 < 904, 31_000);
    expect(cuts[0]!.reason).toBe('short_pause');
    expect(ms(cuts[0]!.speechEndSample)).toBeGreaterThanOrEqual(24_000);
    expect(ms(cuts[0]!.speechEndSample)).toBeLessThan(25_000);
  });
});
