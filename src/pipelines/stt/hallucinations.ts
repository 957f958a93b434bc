/**
 * Whisper-family recognisers invent text on silence and noise ("Sous-titres réalisés par la
 * communauté d'Amara.org", "Thanks for watching!"), append such credits to real speech, and loop on
 * a phrase or a few phrases in turn. Such text was never said: it must not reach captions,
 * transcripts or minutes. This filter cuts it out and counts what it removed by reason; the removed
 * text itself is not kept anywhere.
 *
 * In each segment, in this order:
 * - no_speech: a non-speech annotation ("[Musique]", "(applause)", "♪"), or Whisper's own rule
 *   no_speech_prob > 0.6 together with avg_logprob < -1: the segment is dropped;
 * - hallucination: a segment made only of known phrases (hallucinations/<language>.json, matched
 *   without case, accents or punctuation) is dropped; phrases people really say ("Merci.") only when
 *   the recogniser doubted the segment (no_speech_prob > 0.3 or avg_logprob < -0.7). A known credit
 *   of three words or more at the end or the start of real speech is cut from the text;
 * - repetition: an n-gram (up to 30 words: one phrase or a few in turn) repeated back to back over
 *   most of the segment is cut to its first occurrence; what remains is dropped when it still
 *   compresses better than Whisper's 2.4 (the provider's ratio counts only when nothing was cut).
 * Across segments: a cycle of one, two or three segments repeated three times or more back to back
 * (Whisper alternating "On passe au point suivant." and "Très bien, merci.") is cut to its first
 * occurrence. Every segment dropped or cut counts once, under the reason that removed its text.
 */
import { deflateSync } from 'node:zlib';
import { z } from 'zod';
import en from './hallucinations/en.json' with { type: 'json' };
import fr from './hallucinations/fr.json' with { type: 'json' };
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
  /** A cycle of 1..maxCycleSegments segments repeated back to back this often is a loop (twice is a person repeating). */
  minCycleRepeats: number;
  maxCycleSegments: number;
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
  minCycleRepeats: 3,
  maxCycleSegments: 3,
};

/** Longest phrase cycle looked for inside one segment, in words (three sentences in turn). */
const MAX_LOOP_WORDS = 30;
/** Shortest known phrase cut from a longer segment ("Abonnez-vous" or "you" end real sentences too). */
const MIN_APPENDED_WORDS = 3;

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
  /** The same phrases read backwards, for suffixLength (built on first use). */
  #reversed: PhraseList | undefined;

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
    return this.#reachable(words)[words.length] === true;
  }

  /** reachable[i]: words[0..i) is made of phrases. */
  #reachable(words: readonly string[]): boolean[] {
    const reachable = new Array<boolean>(words.length + 1).fill(false);
    reachable[0] = true;
    for (let i = 0; i < words.length; i++) {
      if (!reachable[i]) continue;
      for (const p of this.#phrases) {
        if (i + p.length <= words.length && p.every((w, k) => words[i + k] === w)) reachable[i + p.length] = true;
      }
    }
    return reachable;
  }

  /** How many leading words are made of phrases (the longest such prefix; 0 when none). */
  prefixLength(words: readonly string[]): number {
    const reachable = this.#reachable(words);
    for (let i = words.length; i > 0; i--) if (reachable[i]) return i;
    return 0;
  }

  /** How many trailing words are made of phrases (the longest such suffix; 0 when none). */
  suffixLength(words: readonly string[]): number {
    if (!this.#reversed) {
      this.#reversed = new PhraseList([]);
      this.#reversed.#phrases.push(...this.#phrases.map((p) => [...p].reverse()));
    }
    return this.#reversed.prefixLength([...words].reverse());
  }
}

const PhraseFileSchema = z.object({
  language: z.string().length(2),
  sources: z.array(z.string()).min(1),
  always: z.array(z.string()),
  whenUnsure: z.array(z.string()),
});

/** The phrase lists, one data file per language (src/pipelines/stt/hallucinations/), checked at load. */
export const PHRASE_FILES = Object.fromEntries(
  Object.entries({ fr, en }).map(([lang, data]) => {
    const parsed = PhraseFileSchema.safeParse(data);
    if (!parsed.success) throw new Error(`hallucinations/${lang}.json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return [lang, parsed.data];
  }),
);

const ALWAYS = Object.values(PHRASE_FILES).flatMap((f) => f.always);
export const ALWAYS_HALLUCINATED = new PhraseList(ALWAYS);
/** Both lists: a doubted segment made of "Merci" and "Abonnez-vous" is still invented. */
export const HALLUCINATED_WHEN_UNSURE = new PhraseList([...ALWAYS, ...Object.values(PHRASE_FILES).flatMap((f) => f.whenUnsure)]);
/** Credits long enough that a sentence ending or starting with them cannot have been said so. */
export const APPENDED_HALLUCINATIONS = new PhraseList(ALWAYS.filter((p) => normaliseForMatch(p).split(' ').length >= MIN_APPENDED_WORDS));

/** The words of a text with where each starts and ends in it, matching normaliseForMatch's words. */
function wordsWithPlaces(text: string): { word: string; start: number; end: number }[] {
  const out: { word: string; start: number; end: number }[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const norm = normaliseForMatch(m[0]);
    if (norm === '') continue;
    // A token that normalises into several words (rare compatibility characters) keeps one place.
    for (const w of norm.split(' ')) out.push({ word: w, start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Text without known credits at its end or start; null when nothing was cut (or nothing real is left). */
export function cutAppendedCredits(text: string): string | null {
  const words = wordsWithPlaces(text);
  const tail = APPENDED_HALLUCINATIONS.suffixLength(words.map((w) => w.word));
  const kept = words.slice(0, words.length - tail);
  const head = APPENDED_HALLUCINATIONS.prefixLength(kept.map((w) => w.word));
  if ((tail === 0 && head === 0) || head >= kept.length) return null;
  const from = head > 0 ? (kept[head]?.start ?? 0) : 0;
  const to = tail > 0 ? (words[words.length - tail]?.start ?? text.length) : text.length;
  return text.slice(from, to).trim();
}

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
export function longestLoop(words: readonly string[], maxN = MAX_LOOP_WORDS): { n: number; start: number; repeats: number; coveredWords: number } {
  let best = { n: 0, start: 0, repeats: 0, coveredWords: 0 };
  for (let n = 1; n <= maxN; n++) {
    for (let start = 0; start + 2 * n <= words.length; start++) {
      let repeats = 1;
      while (start + (repeats + 1) * n <= words.length && sameRun(words, start, start + repeats * n, n)) repeats++;
      if (repeats > 1 && repeats * n > best.coveredWords) best = { n, start, repeats, coveredWords: repeats * n };
    }
  }
  return best;
}

function sameRun(words: readonly string[], a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (words[a + k] !== words[b + k]) return false;
  return true;
}

/** Text with its looping n-gram cut to the first occurrence; null when it does not loop. */
export function cutLoop(text: string, t: FilterThresholds = DEFAULT_THRESHOLDS): string | null {
  const words = wordsWithPlaces(text);
  if (words.length === 0) return null;
  const loop = longestLoop(words.map((w) => w.word));
  if (loop.n === 0) return null;
  const minRepeats = loop.n === 1 ? t.loopMinRepeatsSingleWord : t.loopMinRepeats;
  if (loop.repeats < minRepeats || loop.coveredWords / words.length < t.loopMinCoverage) return null;
  // From the end of the first occurrence's last word to the end of the last repetition's: the
  // punctuation after the loop stays.
  const cutFrom = words[loop.start + loop.n - 1]?.end ?? 0;
  const resume = words[loop.start + loop.repeats * loop.n - 1]?.end ?? text.length;
  return `${text.slice(0, cutFrom)}${text.slice(resume)}`.trim();
}

type Verdict = { drop: FilterReason } | { keep: RecognisedSegment; cut: FilterReason | null };

function judge(s: RecognisedSegment, t: FilterThresholds): Verdict {
  if (isNonSpeechMarker(s.text)) return { drop: 'no_speech' };
  if (s.noSpeechProb !== null && s.avgLogprob !== null && s.noSpeechProb > t.noSpeechThreshold && s.avgLogprob < t.logprobThreshold) {
    return { drop: 'no_speech' };
  }
  if (ALWAYS_HALLUCINATED.covers(s.text)) return { drop: 'hallucination' };
  const unsure = (s.noSpeechProb !== null && s.noSpeechProb > t.unsureNoSpeech) || (s.avgLogprob !== null && s.avgLogprob < t.unsureLogprob);
  if (unsure && HALLUCINATED_WHEN_UNSURE.covers(s.text)) return { drop: 'hallucination' };
  let text = s.text;
  let cut: FilterReason | null = null;
  const withoutCredits = cutAppendedCredits(text);
  if (withoutCredits !== null) {
    text = withoutCredits;
    cut = 'hallucination';
  }
  const withoutLoop = cutLoop(text, t);
  if (withoutLoop !== null) {
    text = withoutLoop;
    cut ??= 'repetition';
  }
  // The provider's ratio describes the text it sent; once something is cut, only ours is meaningful.
  const ratio = cut === null && s.compressionRatio !== null ? s.compressionRatio : compressionRatioOf(text.trim());
  if (ratio > t.compressionRatioThreshold) return { drop: 'repetition' };
  return { keep: cut === null ? s : { ...s, text }, cut };
}

export interface FilterResult {
  kept: RecognisedSegment[];
  /** One entry per reason that dropped something, in a fixed order (hallucination, no_speech, repetition). */
  filtered: FilteredCount[];
}

/** Removes invented text (see the module comment); empty segments are dropped uncounted. */
export function filterHallucinations(segments: readonly RecognisedSegment[], thresholds: Partial<FilterThresholds> = {}): FilterResult {
  const t = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const counts: Record<FilterReason, number> = { hallucination: 0, no_speech: 0, repetition: 0 };
  const judged: RecognisedSegment[] = [];
  for (const s of segments) {
    if (s.text.trim() === '') continue;
    const v = judge(s, t);
    if ('drop' in v) counts[v.drop]++;
    else {
      if (v.cut) counts[v.cut]++;
      judged.push(v.keep);
    }
  }
  const kept = cutSegmentCycles(judged, t);
  counts.repetition += judged.length - kept.length;
  const filtered = (Object.keys(counts) as FilterReason[]).filter((r) => counts[r] > 0).map((reason) => ({ reason, count: counts[reason] }));
  return { kept, filtered };
}

/** Keeps the first occurrence of every cycle of 1..maxCycleSegments segments repeated minCycleRepeats times or more. */
function cutSegmentCycles(segments: readonly RecognisedSegment[], t: FilterThresholds): RecognisedSegment[] {
  const norm = segments.map((s) => normaliseForMatch(s.text));
  const kept: RecognisedSegment[] = [];
  let i = 0;
  while (i < segments.length) {
    let best: { p: number; repeats: number } | null = null;
    for (let p = 1; p <= t.maxCycleSegments; p++) {
      let repeats = 1;
      while (i + (repeats + 1) * p <= segments.length && norm.slice(i + repeats * p, i + (repeats + 1) * p).every((x, k) => x === norm[i + k])) repeats++;
      if (repeats >= t.minCycleRepeats && (best === null || repeats * p > best.repeats * best.p)) best = { p, repeats };
    }
    const take = best ? best.p : 1;
    kept.push(...segments.slice(i, i + take));
    i += best ? best.p * best.repeats : 1;
  }
  return kept;
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
