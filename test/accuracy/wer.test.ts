import { describe, expect, it } from 'vitest';
import { alignWords, countOps, normaliseWords, spellNumber, werOf, wordErrorRate } from './wer.js';

describe('word error rate', () => {
  it('counts substitutions, deletions and insertions against the reference length', () => {
    // The textbook example: 1 substitution (sat→sit), 1 deletion (the), 1 insertion (down) over 6 words.
    const c = countOps(alignWords('the cat sat on the mat'.split(' '), 'the cat sit on mat down'.split(' ')));
    expect(c).toEqual({ words: 6, hits: 4, substitutions: 1, deletions: 1, insertions: 1 });
    expect(werOf(c)).toBeCloseTo(3 / 6);
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
