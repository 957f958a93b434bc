import { describe, expect, it } from 'vitest';
import { alignWords, proportionalWords, wordTokens } from './word-timings.js';

const RATE = 16_000;

/**
 * Speech-like audio: a 180 Hz buzz for each word (lengths in ms), a 30 ms dip 25 dB down between
 * words, and `pauseAfter` word indexes followed by 200 ms of silence. Returns the samples and the
 * true word spans (ms, starting at 500 ms).
 */
function speech(lengths: number[], pauseAfter: number[] = []): { pcm: Int16Array; spans: [number, number][] } {
  const parts: number[] = [];
  const spans: [number, number][] = [];
  const push = (ms: number, amp: number) => {
    for (let i = 0; i < (ms * RATE) / 1000; i++) parts.push(Math.round(amp * Math.sin((2 * Math.PI * 180 * parts.length) / RATE)));
  };
  push(500, 0);
  for (const [i, len] of lengths.entries()) {
    const start = (parts.length * 1000) / RATE;
    push(len, 12_000);
    spans.push([start, (parts.length * 1000) / RATE]);
    if (i < lengths.length - 1) push(pauseAfter.includes(i) ? 200 : 30, pauseAfter.includes(i) ? 0 : 700);
  }
  push(500, 0);
  return { pcm: Int16Array.from(parts), spans };
}

describe('wordTokens', () => {
  it('splits at spaces, keeping spaced French punctuation with the word before, so the words join back to the text', () => {
    const text = "Trois sujets aujourd'hui : le calendrier, la conformité – et la formation ?";
    const words = wordTokens(text);
    expect(words).toEqual(['Trois', 'sujets', "aujourd'hui :", 'le', 'calendrier,', 'la', 'conformité –', 'et', 'la', 'formation ?']);
    expect(words.join(' ')).toBe(text);
  });
});

describe('alignWords', () => {
  it('puts the boundaries on the dips between words, where letters alone would miss them', () => {
    // "le calendrier de la formation": letter counts disagree with these lengths on purpose.
    const { pcm, spans } = speech([300, 250, 120, 400, 260]);
    const text = 'le calendrier de la formation';
    const start = spans[0]![0];
    const end = spans.at(-1)![1];
    const aligned = alignWords(pcm, RATE, start, end, text);
    expect(aligned.map((w) => w.word)).toEqual(wordTokens(text));
    expect(aligned[0]!.startMs).toBe(start);
    expect(aligned.at(-1)!.endMs).toBe(end);
    const err = (ws: { startMs: number }[]) => Math.max(...ws.slice(1).map((w, i) => Math.abs(w.startMs - spans[i + 1]![0])));
    // Within one 10 ms frame of the dip (plus the dip's own 30 ms); the proportional split is far off.
    expect(err(aligned)).toBeLessThanOrEqual(40);
    expect(err(proportionalWords(start, end, text))).toBeGreaterThan(150);
  });

  it('leaves a pause inside a sentence to no word: the word before ends where it starts, the next starts after it', () => {
    const { pcm, spans } = speech([260, 300, 280, 320], [1]);
    const aligned = alignWords(pcm, RATE, spans[0]![0], spans.at(-1)![1], 'Bonjour Marie, comment vas-tu ?');
    expect(Math.abs(aligned[1]!.endMs - spans[1]![1])).toBeLessThanOrEqual(10);
    expect(Math.abs(aligned[2]!.startMs - spans[2]![0])).toBeLessThanOrEqual(10);
    // Contiguous elsewhere, in order.
    for (let i = 1; i < aligned.length; i++) expect(aligned[i]!.startMs).toBeGreaterThanOrEqual(aligned[i - 1]!.endMs);
  });

  it('gives a one-word sentence its whole span, and refuses a span too short for its words', () => {
    const { pcm } = speech([400]);
    expect(alignWords(pcm, RATE, 500, 900, 'Oui.')).toEqual([{ word: 'Oui.', startMs: 500, endMs: 900 }]);
    expect(() => alignWords(pcm, RATE, 500, 600, 'un deux trois')).toThrow(/3 words cannot fit in 100 ms/);
    expect(() => alignWords(pcm, RATE, 500, 600, ' ')).toThrow(/no word/);
  });
});
