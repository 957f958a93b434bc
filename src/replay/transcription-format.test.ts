/**
 * Cropping a recorded answer to the window an upload covers: with word timings (ground-truth
 * cassettes) a piece of a sentence gets that piece's words, and the pieces of a sentence cut in two
 * answer each word exactly once; without them (recordings), whole segments by their midpoint.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { readSrt } from '../../test/transcript/readers.js';
import { MistralTranscription, OpenAiVerboseTranscription } from './cassette.js';
import { cropMistral, cropOpenAi, renderMistral, renderOpenAi } from './transcription-format.js';

const require = createRequire(import.meta.url);
const { WebVTTParser } = require('webvtt-parser') as { WebVTTParser: new () => { parse(text: string): { cues: { startTime: number; endTime: number; text: string }[]; errors: unknown[] } } };

const SENTENCE = "Trois sujets aujourd'hui : le calendrier du pilote, la conformité.";
// Word times (s) as word-timings.ts places them: contiguous, a pause after "pilote," (6.98-7.20).
const WORDS: [string, number, number][] = [
  ['Trois', 4.44, 4.67],
  ['sujets', 4.67, 5.32],
  ["aujourd'hui :", 5.32, 5.72],
  ['le', 5.82, 5.98],
  ['calendrier', 5.98, 6.53],
  ['du', 6.53, 6.67],
  ['pilote,', 6.68, 6.98],
  ['la', 7.2, 7.34],
  ['conformité.', 7.34, 7.95],
];
const words = WORDS.map(([word, start, end]) => ({ word, start, end }));

const openai = OpenAiVerboseTranscription.parse({
  task: 'transcribe',
  language: 'french',
  duration: 12,
  text: `Bonjour à tous. ${SENTENCE}`,
  segments: [
    { id: 0, seek: 100, start: 1, end: 4.19, text: ' Bonjour à tous.', tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 },
    { id: 1, seek: 444, start: 4.44, end: 7.95, text: ` ${SENTENCE}`, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 },
  ],
  words: [
    { word: 'Bonjour', start: 1, end: 1.65 },
    { word: 'à', start: 1.65, end: 1.79 },
    { word: 'tous.', start: 1.92, end: 4.19 },
    ...words,
  ],
});
const mistral = MistralTranscription.parse({
  model: '*',
  text: openai.text,
  language: 'fr',
  segments: openai.segments.map((s) => ({ type: 'transcription_segment', text: s.text.trim(), start: s.start, end: s.end })),
  usage: { prompt_tokens: 0, completion_tokens: 20, total_tokens: 20, prompt_audio_seconds: 12 },
  words: openai.words,
});

/** Two consecutive live pieces: the first ends at `cutSec`, the second starts there (the segmenter never overlaps them). */
const pieces = (fromSec: number, cutSec: number, toSec: number) => [
  { fromSec, durationSec: cutSec - fromSec },
  { fromSec: cutSec, durationSec: toSec - cutSec },
];

describe('cropping with word timings', () => {
  it('answers each piece of a sentence cut at a pause with its own words, every word once', () => {
    // The agent's cut in the pause after "pilote,", the first piece with its 300 ms pre-roll.
    const [a, b] = pieces(4.14, 7.1, 8.2);
    const first = cropOpenAi(openai, a!);
    const second = cropOpenAi(openai, b!);
    expect(first.text).toBe("Trois sujets aujourd'hui : le calendrier du pilote,");
    expect(second.text).toBe('la conformité.');
    expect(`${first.text} ${second.text}`).toBe(SENTENCE);
    // Times in each upload's own timeline: the first piece's words from 0.30 s, the second's from 0.10 s.
    expect(first.segments.map((s) => [s.id, s.start, s.end, s.seek])).toEqual([[0, 0.3, 2.84, 30]]);
    expect(second.segments.map((s) => [s.id, s.start, s.end, s.text])).toEqual([[0, 0.1, 0.85, ' la conformité.']]);
    expect(first.duration).toBe(2.96);
    expect(second.words?.map((w) => [w.word, w.start, w.end])).toEqual([
      ['la', 0.1, 0.24],
      ['conformité.', 0.24, 0.85],
    ]);
    // The first sentence (before the window) is not heard, nor a word of it.
    expect(first.words?.[0]?.word).toBe('Trois');
  });

  it('gives a word straddling a hard cut (no pause) to the piece holding most of it, once', () => {
    // "calendrier" is 5.98-6.53: a cut at 6.20 leaves most of it in the second piece.
    for (const cut of [6.2, 6.3, 6.25, 6.256]) {
      const [a, b] = pieces(4.14, cut, 8.2).map((w) => cropOpenAi(openai, w));
      expect(`${a!.text} ${b!.text}`, String(cut)).toBe(SENTENCE);
    }
    const [a, b] = pieces(4.14, 6.2, 8.2).map((w) => cropOpenAi(openai, w));
    expect(a!.text).toBe("Trois sujets aujourd'hui : le");
    expect(b!.text).toBe('calendrier du pilote, la conformité.');
    // Its time is clamped to the upload: it started before this one did.
    expect(b!.segments[0]!.start).toBe(0);
  });

  it('keeps a sentence heard whole as recorded, and the segment\'s own text', () => {
    const all = cropOpenAi(openai, { fromSec: 0.7, durationSec: 7.6 });
    expect(all.text).toBe(openai.text);
    expect(all.segments.map((s) => [s.start, s.end])).toEqual([
      [0.3, 3.49],
      [3.74, 7.25],
    ]);
  });

  it('renders the pieces in every response format, read back by independent parsers', () => {
    const [a, b] = pieces(4.14, 7.1, 8.2).map((w) => cropOpenAi(openai, w));
    expect(renderOpenAi(a!, 'text', []).body).toBe("Trois sujets aujourd'hui : le calendrier du pilote,\n");
    expect(JSON.parse(renderOpenAi(b!, 'json', []).body)).toEqual({ text: 'la conformité.' });
    const verbose = JSON.parse(renderOpenAi(b!, 'verbose_json', ['word']).body) as { words: unknown[]; segments?: unknown };
    expect(verbose.words).toEqual([
      { word: 'la', start: 0.1, end: 0.24 },
      { word: 'conformité.', start: 0.24, end: 0.85 },
    ]);
    expect(verbose.segments).toBeUndefined();
    const both = JSON.parse(renderOpenAi(b!, 'verbose_json', ['word', 'segment']).body) as { words: unknown[]; segments: unknown[] };
    expect([both.words.length, both.segments.length]).toEqual([2, 1]);
    expect(readSrt(renderOpenAi(a!, 'srt', []).body)).toEqual([{ speaker: null, text: "Trois sujets aujourd'hui : le calendrier du pilote,", start: 0.3, end: 2.84 }]);
    const vtt = new WebVTTParser().parse(renderOpenAi(b!, 'vtt', []).body);
    expect(vtt.errors).toEqual([]);
    expect(vtt.cues.map((c) => [c.startTime, c.endTime, c.text])).toEqual([[0.1, 0.85, 'la conformité.']]);
  });

  it('does the same for Mistral, whose answer never carries the word timings', () => {
    const [a, b] = pieces(4.14, 7.1, 8.2).map((w) => cropMistral(mistral, w));
    expect([a!.text, b!.text]).toEqual(["Trois sujets aujourd'hui : le calendrier du pilote,", 'la conformité.']);
    expect(b!.segments).toEqual([{ type: 'transcription_segment', text: 'la conformité.', start: 0.1, end: 0.85 }]);
    expect(b!.usage.prompt_audio_seconds).toBe(2);
    const sent = JSON.parse(renderMistral(b!, ['segment'])) as Record<string, unknown>;
    expect(sent).not.toHaveProperty('words');
    expect(sent.segments).toEqual(b!.segments);
    expect(JSON.parse(renderMistral(a!, [])) as Record<string, unknown>).toMatchObject({ text: a!.text, segments: [] });
  });
});

describe('cropping without word timings (recorded answers)', () => {
  it('keeps a segment whole in the piece holding its midpoint, and nothing of it in the other', () => {
    const { words: _w, ...recorded } = openai;
    // The sentence's midpoint is 6.195 s.
    const [a, b] = pieces(4.14, 6.3, 8.2).map((w) => cropOpenAi(recorded, w));
    expect(a!.text).toBe(SENTENCE);
    expect(b!.text).toBe('');
    expect(a!.words).toBeUndefined();
    const { words: _m, ...recordedMistral } = mistral;
    const [c, d] = pieces(4.14, 6.1, 8.2).map((w) => cropMistral(recordedMistral, w));
    expect([c!.text, d!.text]).toEqual(['', SENTENCE]);
  });
});
