import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { compressionRatioOf, confidenceOf, filterHallucinations, isNonSpeechMarker, longestLoop, normaliseForMatch, PHRASE_FILES, PhraseList } from './hallucinations.js';
import { parseOpenAiTranscription } from './openai-compatible.js';
import type { RecognisedSegment } from './types.js';

const seg = (text: string, extra: Partial<RecognisedSegment> = {}): RecognisedSegment => ({
  startMs: 0,
  endMs: 2000,
  text,
  noSpeechProb: 0.02,
  avgLogprob: -0.2,
  compressionRatio: null,
  ...extra,
});

describe('normaliseForMatch', () => {
  it('ignores case, accents, apostrophes and punctuation', () => {
    expect(normaliseForMatch("Sous-titres réalisés par la communauté d’Amara.org")).toBe('sous titres realises par la communaute d amara org');
    expect(normaliseForMatch("  Sous-titrage ST' 501 ")).toBe('sous titrage st 501');
    expect(normaliseForMatch('MERCI D\'AVOIR REGARDÉ !!!')).toBe(normaliseForMatch("merci d'avoir regarde"));
  });
});

describe('PhraseList', () => {
  const list = new PhraseList(["Merci d'avoir regardé", 'Abonnez-vous', 'you']);
  it('matches a segment made only of listed phrases, in any order and number', () => {
    expect(list.covers("Merci d'avoir regardé !")).toBe(true);
    expect(list.covers('Abonnez-vous ! Merci d’avoir regardé.')).toBe(true);
    expect(list.covers('You.')).toBe(true);
  });
  it('keeps a real sentence that merely contains a listed phrase', () => {
    expect(list.covers("Merci d'avoir regardé le budget, on peut valider.")).toBe(false);
    expect(list.covers('Can you share your screen?')).toBe(false);
    expect(list.covers('')).toBe(false);
  });
});

describe('isNonSpeechMarker', () => {
  it('recognises annotations and symbol-only texts', () => {
    for (const t of ['[Musique]', '(Applaudissements)', '*rires*', '♪ ♪', '...', '[MUSIC] (applause)']) expect(isNonSpeechMarker(t), t).toBe(true);
  });
  it('does not take speech for an annotation', () => {
    for (const t of ['Musique', 'On écoute (brièvement) la musique', 'Oui.']) expect(isNonSpeechMarker(t), t).toBe(false);
  });
});

describe('longestLoop', () => {
  it('finds the n-gram repeated back to back', () => {
    const words = 'on va faire on va faire on va faire on va faire ok'.split(' ');
    expect(longestLoop(words)).toEqual({ n: 3, start: 0, repeats: 4, coveredWords: 12 });
    expect(longestLoop(['a', 'b', 'c'])).toEqual({ n: 0, start: 0, repeats: 0, coveredWords: 0 });
  });
});

describe('filterHallucinations', () => {
  it('drops the classic subtitle credits and sign-offs in French and English, and counts them', () => {
    const texts = [
      "Sous-titres réalisés par la communauté d'Amara.org",
      "Sous-titrage ST' 501",
      'Sous-titrage Société Radio-Canada',
      "Merci d'avoir regardé cette vidéo !",
      'Abonnez-vous !',
      'Thanks for watching!',
      'Thank you for watching.',
      'you',
    ];
    const { kept, filtered } = filterHallucinations(texts.map((t) => seg(t)));
    expect(kept).toEqual([]);
    expect(filtered).toEqual([{ reason: 'hallucination', count: texts.length }]);
  });

  it('keeps real speech around them, in order, untouched', () => {
    const real = [seg('Bonjour à tous, on commence.'), seg('Le pilote démarre le 4 janvier.')];
    const { kept, filtered } = filterHallucinations([real[0]!, seg('Sous-titrage ST’ 501'), real[1]!]);
    expect(kept).toEqual(real);
    expect(filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
  });

  it('drops "Merci." only when the recogniser doubted it', () => {
    expect(filterHallucinations([seg('Merci.')]).kept).toHaveLength(1);
    expect(filterHallucinations([seg('Merci.', { noSpeechProb: 0.45 })]).filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
    expect(filterHallucinations([seg('Thank you.', { avgLogprob: -0.9 })]).filtered).toEqual([{ reason: 'hallucination', count: 1 }]);
    // Without any confidence information (Voxtral), a plausible "Merci." is kept.
    expect(filterHallucinations([seg('Merci.', { noSpeechProb: null, avgLogprob: null })]).kept).toHaveLength(1);
  });

  it('applies Whisper’s no-speech rule (no_speech_prob > 0.6 and avg_logprob < -1) and drops annotations', () => {
    const { kept, filtered } = filterHallucinations([
      seg('Le projet avance.', { noSpeechProb: 0.8, avgLogprob: -1.3 }),
      seg('Le projet avance bien.', { noSpeechProb: 0.8, avgLogprob: -0.4 }), // confident text: kept
      seg('[Musique]'),
    ]);
    expect(kept.map((s) => s.text)).toEqual(['Le projet avance bien.']);
    expect(filtered).toEqual([{ reason: 'no_speech', count: 2 }]);
  });

  it('cuts loops to their first occurrence: a repeated n-gram in a segment, the same segment over and over', () => {
    const loop = 'Je vais vous montrer. '.repeat(12).trim();
    expect(compressionRatioOf(loop)).toBeGreaterThan(2.4);
    const { kept, filtered } = filterHallucinations([
      seg(loop),
      seg('Oui oui, on valide, on valide, on valide, on valide, on valide.'),
      seg('D’accord.'),
      seg('D’accord.'),
      seg('D’accord.'),
      seg('D’accord.'),
      seg('Non non non, pas comme ça.'),
    ]);
    expect(kept.map((s) => s.text)).toEqual(['Je vais vous montrer.', 'Oui oui, on valide.', 'D’accord.', 'Non non non, pas comme ça.']);
    // Two segments cut, three identical ones dropped.
    expect(filtered).toEqual([{ reason: 'repetition', count: 5 }]);
  });

  it('keeps a phrase said twice, and what is said after a loop', () => {
    expect(filterHallucinations([seg('D’accord.'), seg('D’accord.'), seg('On continue.')]).filtered).toEqual([]);
    const { kept } = filterHallucinations([seg(`Bonjour à tous. ${'Merci. '.repeat(9)}On commence par le budget.`)]);
    expect(kept.map((s) => s.text)).toEqual(['Bonjour à tous. Merci. On commence par le budget.']);
  });

  it('cuts two or three phrases said in turn, inside one segment or across segments', () => {
    const two = 'On passe au point suivant. Très bien, merci. '.repeat(10).trim();
    expect(filterHallucinations([seg(`Bonjour. ${two}`)]).kept.map((s) => s.text)).toEqual(['Bonjour. On passe au point suivant. Très bien, merci.']);
    const three = ['Alors.', 'On regarde.', 'Voilà.'];
    const segments = [seg('Premier point, le budget.'), ...Array.from({ length: 15 }, (_, i) => seg(three[i % 3] as string)), seg('Deuxième point.')];
    const { kept, filtered } = filterHallucinations(segments);
    expect(kept.map((s) => s.text)).toEqual(['Premier point, le budget.', 'Alors.', 'On regarde.', 'Voilà.', 'Deuxième point.']);
    expect(filtered).toEqual([{ reason: 'repetition', count: 12 }]);
  });

  it('field case alternating-loop: after one real sentence, two sentences alternate over 60 segments', () => {
    const { response } = JSON.parse(readFileSync('fixtures/field-cases/alternating-loop/stt-C.json', 'utf8')) as { response: string };
    const { segments } = parseOpenAiTranscription(JSON.stringify(response));
    const { kept, filtered } = filterHallucinations(segments ?? []);
    const texts = kept.map((s) => s.text);
    expect(texts[0]).toBe('Bonjour à tous, on commence la réunion de suivi.');
    for (const sentence of ['On passe au point suivant.', 'Très bien, merci.']) expect(texts.filter((t) => t === sentence).length).toBeLessThanOrEqual(2);
    expect(filtered).toEqual([{ reason: 'repetition', count: 58 }]);
  });

  it('cuts a known credit appended to real speech, or leading it, and counts it', () => {
    const { kept, filtered } = filterHallucinations([
      seg("D'accord, on valide le budget. Sous-titres réalisés par la communauté d'Amara.org"),
      seg('Subtitles by the Amara.org community. So, the budget is approved. Thanks for watching!'),
    ]);
    expect(kept.map((s) => s.text)).toEqual(["D'accord, on valide le budget.", 'So, the budget is approved.']);
    expect(filtered).toEqual([{ reason: 'hallucination', count: 2 }]);
  });

  it('never cuts short phrases people end sentences with ("you", "merci", "abonnez-vous")', () => {
    const texts = ['I will see you', 'On valide, merci', 'Pour la lettre, abonnez-vous', 'Thank you'];
    const { kept, filtered } = filterHallucinations(texts.map((t) => seg(t)));
    expect(kept.map((s) => s.text)).toEqual(texts);
    expect(filtered).toEqual([]);
  });

  it('field case credit-appended: the credit is cut from the sentence and dropped alone, both counted', () => {
    const { response } = JSON.parse(readFileSync('fixtures/field-cases/credit-appended/stt-appended.json', 'utf8')) as { response: string };
    const { segments } = parseOpenAiTranscription(JSON.stringify(response));
    const { kept, filtered } = filterHallucinations(segments ?? []);
    expect(kept.map((s) => s.text)).toEqual(["D'accord, on valide le budget du pilote pour le premier trimestre, et Bruno prépare le planning détaillé."]);
    expect(filtered).toEqual([{ reason: 'hallucination', count: 2 }]);
  });

  it('keeps its phrase lists as one data file per language, each naming its sources', () => {
    expect(Object.keys(PHRASE_FILES).sort()).toEqual(['en', 'fr']);
    for (const [lang, file] of Object.entries(PHRASE_FILES)) {
      expect(file.language).toBe(lang);
      expect(file.sources.length).toBeGreaterThan(0);
      expect(file.always.length).toBeGreaterThan(0);
    }
  });

  it('uses the provider’s compression ratio when it gives one', () => {
    expect(filterHallucinations([seg('Texte ordinaire.', { compressionRatio: 2.9 })]).filtered).toEqual([{ reason: 'repetition', count: 1 }]);
  });

  it('drops empty segments without counting them', () => {
    expect(filterHallucinations([seg('  ')])).toEqual({ kept: [], filtered: [] });
  });
});

describe('confidenceOf', () => {
  it('is the duration-weighted mean of exp(avg_logprob)', () => {
    const c = confidenceOf([seg('a', { startMs: 0, endMs: 3000, avgLogprob: Math.log(0.9) }), seg('b', { startMs: 3000, endMs: 4000, avgLogprob: Math.log(0.5) })]);
    expect(c).toBeCloseTo((0.9 * 3 + 0.5 * 1) / 4, 6);
  });
  it('is null when no segment has a log-probability', () => {
    expect(confidenceOf([seg('a', { avgLogprob: null })])).toBeNull();
    expect(confidenceOf([])).toBeNull();
  });
});
