import { describe, expect, it } from 'vitest';
import { UtteranceSegmenter, type CutUtterance } from './utterance-segmenter.js';

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

describe('UtteranceSegmenter', () => {
  it('cuts an utterance at a pause longer than the minimum silence, with speech times on the track clock', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
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

  it('does not cut at pauses shorter than the minimum silence while the utterance is short', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
    // 8 s of speech with a 300 ms pause every 2 s.
    feed(seg, (t) => t < 8_000 && t % 2_000 < 1_700, 9_000);
    expect(cuts).toHaveLength(1);
  });

  it('cuts a long monologue at its pauses into pieces no longer than the maximum, losing nothing', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
    // 90 s of speech: 6 s sentences separated by 250 ms pauses.
    const speaking = (t: number) => t < 90_000 && t % 6_250 < 6_000;
    feed(seg, speaking, 91_000);
    expect(cuts.length).toBeGreaterThanOrEqual(3);
    for (const c of cuts) {
      expect(ms(c.speechEndSample - c.speechStartSample)).toBeLessThanOrEqual(30_000);
      // Every cut but the last falls inside a pause, never inside a sentence.
      if (c !== cuts.at(-1)) expect(speaking(ms(c.speechEndSample) + 100)).toBe(false);
    }
    // Together the pieces hold every speech sample.
    for (let t = 0; t < 90_000; t += 50) {
      if (!speaking(t)) continue;
      const s = (t * SR) / 1000;
      expect(cuts.some((c) => s >= c.audioStartSample && s < c.audioStartSample + c.audio.length), `${t} ms`).toBe(true);
    }
  });

  it('hard-cuts speech without any pause at the maximum, and the next piece continues where it stopped', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
    feed(seg, (t) => t < 70_000, 71_000);
    expect(cuts.map((c) => c.reason)).toEqual(['max_length', 'max_length', 'pause']);
    expect(ms(cuts[0]!.speechEndSample - cuts[0]!.speechStartSample)).toBeLessThanOrEqual(30_000);
    expect(cuts[1]!.speechStartSample).toBe(cuts[0]!.audioStartSample + cuts[0]!.audio.length);
    expect(cuts[1]!.audioStartSample).toBe(cuts[1]!.speechStartSample);
  });

  it('emits the utterance in progress on flush, and nothing when nobody spoke', () => {
    const cuts: CutUtterance[] = [];
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
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
    const seg = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => cuts.push(u));
    // A 96 ms click, then a 250 ms "oui", then a click just as the track ends.
    feed(seg, (t) => (t >= 1_000 && t < 1_096) || (t >= 3_000 && t < 3_250) || t >= 5_000, 5_100);
    seg.flush();
    expect(cuts).toHaveLength(1);
    expect(ms(cuts[0]!.speechStartSample)).toBeCloseTo(3_000, -2);
    expect(seg.dropped).toBe(2);
    // 30 s of speech and 64 ms more: the tiny second piece is part of the monologue, kept.
    const pieces: CutUtterance[] = [];
    const mono = new UtteranceSegmenter({ maxUtteranceMs: 30_000 }, (u) => pieces.push(u));
    feed(mono, (t) => t < 30_040, 31_000);
    expect(pieces.map((c) => c.reason)).toEqual(['max_length', 'pause']);
    expect(mono.dropped).toBe(0);
  });
});
