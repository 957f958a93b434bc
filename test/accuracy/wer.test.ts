import { describe, expect, it } from 'vitest';
import { overlapSpans, scoreTranscript } from './score.js';
import { alignWords, countOps, normaliseWords, spellNumber, werOf, wordErrorRate } from './wer.js';

describe('word error rate', () => {
  it('counts substitutions, deletions and insertions against the reference length', () => {
    // "the cat sat on the mat" / "the cat sit on mat down": three edits whichever way they are aligned.
    const c = countOps(alignWords('the cat sat on the mat'.split(' '), 'the cat sit on mat down'.split(' ')));
    expect(c.substitutions + c.deletions + c.insertions).toBe(3);
    expect(werOf(c)).toBeCloseTo(3 / 6);
    // Unambiguous: one substitution and one insertion; one deletion.
    expect(countOps(alignWords('a b c d'.split(' '), 'a x c d e'.split(' ')))).toEqual({ words: 4, hits: 3, substitutions: 1, deletions: 0, insertions: 1 });
    expect(countOps(alignWords('a b c d'.split(' '), 'a c d'.split(' ')))).toEqual({ words: 4, hits: 3, substitutions: 0, deletions: 1, insertions: 0 });
  });

  it('is 0 for the same words whatever the case and punctuation, and can exceed 1', () => {
    expect(wordErrorRate('Good morning, everyone.', 'good morning everyone')).toBe(0);
    expect(wordErrorRate('yes', 'no no no')).toBe(3);
    expect(wordErrorRate('', '')).toBe(0);
    expect(wordErrorRate('', 'thank you')).toBe(Infinity);
    expect(wordErrorRate('thank you', '')).toBe(1);
  });

  it('reads numbers and percentages as words, as Whisper writes them in digits', () => {
    expect(normaliseWords('Costs went up by 10%, mostly for heating.')).toEqual('costs went up by ten percent mostly for heating'.split(' '));
    expect(wordErrorRate('we meet again in two weeks', 'We meet again in 2 weeks.')).toBe(0);
    expect(spellNumber(0)).toBe('zero');
    expect(spellNumber(42)).toBe('forty two');
    expect(spellNumber(315)).toBe('three hundred fifteen');
    expect(spellNumber(2026)).toBe('2026');
  });

  it('keeps apostrophes inside words and splits on hyphens', () => {
    expect(normaliseWords("Let's re-open the ‘front’ desk — now!")).toEqual(["let's", 're', 'open', 'the', 'front', 'desk', 'now']);
  });

  it('aligns in order, preferring a substitution to a deletion plus an insertion', () => {
    expect(alignWords(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual([
      { op: 'hit', ref: 0, hyp: 0 },
      { op: 'sub', ref: 1, hyp: 1 },
      { op: 'hit', ref: 2, hyp: 2 },
    ]);
    expect(alignWords(['a', 'b'], []).map((p) => p.op)).toEqual(['del', 'del']);
    expect(alignWords([], ['a']).map((p) => p.op)).toEqual(['ins']);
  });
});

describe('transcript scoring against a meeting script', () => {
  const script = {
    name: 't',
    language: 'en',
    durationMs: 10_000,
    participants: [
      { identity: 'ann', name: 'Ann', file: 'ann.opus', silent: false },
      { identity: 'bob', name: 'Bob', file: 'bob.opus', silent: false },
      { identity: 'cy', name: 'Cy', file: 'cy.opus', silent: true },
    ],
    utterances: [
      { id: 'u1', speaker: 'ann', startMs: 0, endMs: 3000, text: 'one two three four' },
      // Bob starts while Ann is still speaking: "five six" overlaps "three four" (estimated word times).
      { id: 'u2', speaker: 'bob', startMs: 1600, endMs: 5000, text: 'five six seven eight' },
    ],
  } as unknown as Parameters<typeof scoreTranscript>[0];

  it('counts per speaker, apart from the overlap, and notices lines given to the wrong person or to a silent microphone', () => {
    const s = scoreTranscript(script, [
      { speaker: 'ann', startMs: 0, text: 'one two three four' },
      { speaker: 'ann', startMs: 1600, text: 'six seven eight' },
      { speaker: 'cy', startMs: 6000, text: 'thank you' },
    ]);
    expect(overlapSpans(script)).toEqual([{ startMs: 1600, endMs: 3000 }]);
    const ann = s.perSpeaker.find((x) => x.speaker === 'ann');
    const bob = s.perSpeaker.find((x) => x.speaker === 'bob');
    expect(ann).toMatchObject({ words: 2, hits: 2, misattributed: 0, wer: 0 });
    // "seven eight" recognised but given to Ann; "thank you" inserted after Bob's last word.
    expect(bob).toMatchObject({ words: 2, hits: 2, insertions: 2, misattributed: 2, wer: 1 });
    // "three four five six": "five" lost, "six" recognised under Ann's name.
    expect(s.overlap).toMatchObject({ words: 4, hits: 3, deletions: 1, misattributed: 1 });
    expect(s.total).toMatchObject({ words: 4, misattributed: 2 });
    expect(s.wordsOnSilentMicrophones).toEqual({ cy: 2 });
  });
});
