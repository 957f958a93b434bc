/**
 * Whisper-family recognisers invent text on silence and noise ("Sous-titres réalisés par la
 * communauté d'Amara.org", "Thanks for watching!") and sometimes loop on a phrase. Such text was
 * never said: it must not reach captions, transcripts or minutes. This filter drops those segments
 * and counts them by reason; the dropped text itself is not kept anywhere.
 *
 * A segment is dropped, first matching rule wins, as:
 * - no_speech: a non-speech annotation ("[Musique]", "(applause)", "♪"), or Whisper's own rule
 *   no_speech_prob > 0.6 together with avg_logprob < -1;
 * - hallucination: made only of known phrases (hallucinations.fr-en.json, matched without case,
 *   accents or punctuation); phrases people really say ("Merci.") only when the recogniser doubted
 *   the segment (no_speech_prob > 0.3 or avg_logprob < -0.7);
 * - repetition: compression ratio > 2.4 (Whisper's threshold, computed from the text when the
 *   provider gives none), an n-gram looping over most of the segment, or the third and later of a
 *   run of identical segments.
 */
import { deflateSync } from 'node:zlib';
import phraseData from './hallucinations.fr-en.json' with { type: 'json' };
import type { FilteredCount, FilterReason, RecognisedSegment } from './types.js';

export interface FilterThresholds {
  /** Whisper: a segment is silence when no_speech_prob > this AND avg_logprob < logprobThreshold. */
  noSpeechThreshold: number;
  logprobThreshold: number;
  /** Whisper: a segment whose text compresses better than this is a loop. */
  compressionRatioThreshold: number;
  /** "Unsure" for phrases people really say: no_speech_prob above this, or avg_logprob below unsureLogprob. */
  unsureNoSpeech: number;
  unsureLogprob: number;
  /** An n-gram repeated back to back this often (1-word: loopMinRepeatsSingleWord) over >= loopMinCoverage of the words is a loop. */
  loopMinRepeats: number;
  loopMinRepeatsSingleWord: number;
  loopMinCoverage: number;
  /** In a run of identical consecutive segments, those past this many are dropped. */
  maxIdenticalRun: number;
}

export const DEFAULT_THRESHOLDS: FilterThresholds = {
  noSpeechThreshold: 0.6,
  logprobThreshold: -1,
  compressionRatioThreshold: 2.4,
  unsureNoSpeech: 0.3,
  unsureLogprob: -0.7,
  loopMinRepeats: 4,
  loopMinRepeatsSingleWord: 8,
  loopMinCoverage: 0.5,
  maxIdenticalRun: 2,
};

/** Lower case, no accents, every run of non-letters/digits as one space: "Sous-titrage ST' 501" -> "sous titrage st 501". */
export function normaliseForMatch(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Decides whether a text is made only of phrases from a list (any order, any number of them). */
export class PhraseList {
  readonly #phrases: string[][];

  constructor(phrases: readonly string[]) {
    this.#phrases = [...new Set(phrases.map(normaliseForMatch).filter((p) => p.length > 0))].map((p) => p.split(' '));
  }

  get size(): number {
    return this.#phrases.length;
  }

  /** True when the normalised text is a concatenation of one or more phrases. */
  covers(text: string): boolean {
    const norm = normaliseForMatch(text);
    if (norm === '') return false;
    const words = norm.split(' ');
    // reachable[i]: words[0..i) is made of phrases.
    const reachable = new Array<boolean>(words.length + 1).fill(false);
    reachable[0] = true;
    for (let i = 0; i < words.length; i++) {
      if (!reachable[i]) continue;
      for (const p of this.#phrases) {
        if (i + p.length <= words.length && p.every((w, k) => words[i + k] === w)) reachable[i + p.length] = true;
      }
    }
    return reachable[words.length] === true;
  }
}

const PhraseFile = (data: unknown): { always: string[]; whenUnsure: string[] } => {
  const d = data as { always?: unknown; whenUnsure?: unknown };
  const list = (v: unknown, name: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`hallucinations.fr-en.json: "${name}" must be a list of strings`);
    return v as string[];
  };
  return { always: list(d.always, 'always'), whenUnsure: list(d.whenUnsure, 'whenUnsure') };
};

const PHRASES = PhraseFile(phraseData);
export const ALWAYS_HALLUCINATED = new PhraseList(PHRASES.always);
/** Both lists: a doubted segment made of "Merci" and "Abonnez-vous" is still invented. */
export const HALLUCINATED_WHEN_UNSURE = new PhraseList([...PHRASES.always, ...PHRASES.whenUnsure]);

/** "[Musique]", "(Applaudissements)", "*rires*", "♪ ♪", "..." : markers of non-speech, or nothing legible. */
export function isNonSpeechMarker(text: string): boolean {
  const t = text.trim();
  if (t === '') return false;
  if (normaliseForMatch(t) === '') return true;
  const stripped = t.replace(/\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫]/gu, '').trim();
  return normaliseForMatch(stripped) === '';
}

/** Whisper's compression ratio: UTF-8 bytes over zlib-compressed bytes. */
export function compressionRatioOf(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

/** The longest back-to-back repetition of an n-gram (n <= maxN) in a word list. */
export function longestLoop(words: readonly string[], maxN = 8): { n: number; repeats: number; coveredWords: number } {
  let best = { n: 0, repeats: 0, coveredWords: 0 };
  for (let n = 1; n <= maxN; n++) {
    for (let start = 0; start + 2 * n <= words.length; start++) {
      let repeats = 1;
      while (start + (repeats + 1) * n <= words.length && sameRun(words, start, start + repeats * n, n)) repeats++;
      if (repeats > 1 && repeats * n > best.coveredWords) best = { n, repeats, coveredWords: repeats * n };
    }
  }
  return best;
}

function sameRun(words: readonly string[], a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (words[a + k] !== words[b + k]) return false;
  return true;
}

function isLooping(text: string, t: FilterThresholds): boolean {
  const norm = normaliseForMatch(text);
  if (norm === '') return false;
  const words = norm.split(' ');
  const loop = longestLoop(words);
  if (loop.n === 0) return false;
  const minRepeats = loop.n === 1 ? t.loopMinRepeatsSingleWord : t.loopMinRepeats;
  return loop.repeats >= minRepeats && loop.coveredWords / words.length >= t.loopMinCoverage;
}

function reasonFor(s: RecognisedSegment, t: FilterThresholds): FilterReason | null {
  if (isNonSpeechMarker(s.text)) return 'no_speech';
  if (s.noSpeechProb !== null && s.avgLogprob !== null && s.noSpeechProb > t.noSpeechThreshold && s.avgLogprob < t.logprobThreshold) {
    return 'no_speech';
  }
  if (ALWAYS_HALLUCINATED.covers(s.text)) return 'hallucination';
  const unsure = (s.noSpeechProb !== null && s.noSpeechProb > t.unsureNoSpeech) || (s.avgLogprob !== null && s.avgLogprob < t.unsureLogprob);
  if (unsure && HALLUCINATED_WHEN_UNSURE.covers(s.text)) return 'hallucination';
  const ratio = s.compressionRatio ?? compressionRatioOf(s.text.trim());
  if (ratio > t.compressionRatioThreshold) return 'repetition';
  if (isLooping(s.text, t)) return 'repetition';
  return null;
}

export interface FilterResult {
  kept: RecognisedSegment[];
  /** One entry per reason that dropped something, in a fixed order (hallucination, no_speech, repetition). */
  filtered: FilteredCount[];
}

/** Drops invented segments (see the module comment); empty segments are dropped uncounted. */
export function filterHallucinations(segments: readonly RecognisedSegment[], thresholds: Partial<FilterThresholds> = {}): FilterResult {
  const t = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const counts: Record<FilterReason, number> = { hallucination: 0, no_speech: 0, repetition: 0 };
  const kept: RecognisedSegment[] = [];
  let runText = '';
  let runLength = 0;
  for (const s of segments) {
    if (s.text.trim() === '') continue;
    let reason = reasonFor(s, t);
    if (reason === null) {
      const norm = normaliseForMatch(s.text);
      runLength = norm === runText ? runLength + 1 : 1;
      runText = norm;
      if (runLength > t.maxIdenticalRun) reason = 'repetition';
    }
    if (reason === null) kept.push(s);
    else counts[reason]++;
  }
  const filtered = (Object.keys(counts) as FilterReason[]).filter((r) => counts[r] > 0).map((reason) => ({ reason, count: counts[reason] }));
  return { kept, filtered };
}

/** Duration-weighted mean of exp(avg_logprob) over the segments that have one; null when none has. */
export function confidenceOf(segments: readonly RecognisedSegment[]): number | null {
  let weighted = 0;
  let totalWeight = 0;
  let plain = 0;
  let n = 0;
  for (const s of segments) {
    if (s.avgLogprob === null || !Number.isFinite(s.avgLogprob)) continue;
    const p = Math.min(1, Math.max(0, Math.exp(s.avgLogprob)));
    const w = Math.max(0, s.endMs - s.startMs);
    weighted += p * w;
    totalWeight += w;
    plain += p;
    n++;
  }
  if (n === 0) return null;
  return totalWeight > 0 ? weighted / totalWeight : plain / n;
}

/** Segment texts joined the way the APIs build `text`: trimmed, separated by one space. */
export function joinSegmentTexts(segments: readonly { text: string }[]): string {
  return segments
    .map((s) => s.text.trim())
    .filter((x) => x.length > 0)
    .join(' ');
}
