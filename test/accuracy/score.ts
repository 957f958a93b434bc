/**
 * Scores a transcript against a fixture meeting's ground truth (script.json): word error rate per
 * speaker, words given to the wrong speaker, words lost where two people spoke at once, and words
 * put on the microphones of people who never spoke. Shared by the real-recogniser tests and
 * `npm run bench -- accuracy`.
 *
 * How: the reference is every utterance's words in time order, each word with its speaker and an
 * estimated time (spread over the utterance in proportion to characters: script.json times
 * utterances, not words). The hypothesis is every transcript line's words in time order, each with
 * the line's speaker. One minimum-edit alignment of the two (wer.ts) decides, per reference word,
 * whether it was recognised (hit), misheard (substitution) or lost (deletion); insertions go to the
 * reference word just before them. A recognised or misheard word whose line names another speaker
 * is misattributed. Reference words whose estimated time falls where two utterances overlap are
 * counted apart (`overlap`), not in any speaker's WER.
 */
import type { MeetingScript } from '../../src/replay/ground-truth.js';
import { alignWords, normaliseWords, werOf, type AlignedPair, type WerCounts } from './wer.js';

export interface HypothesisLine {
  /** Participant identity the line is attributed to (null: no speaker known). */
  speaker: string | null;
  /** Milliseconds from the meeting's start. */
  startMs: number;
  text: string;
}

export interface SpeakerScore extends WerCounts {
  speaker: string;
  wer: number;
  /** Recognised or misheard words attributed to another speaker (or to none). */
  misattributed: number;
}

export interface AccuracyScore {
  perSpeaker: SpeakerScore[];
  /** Words said while someone else was speaking: how many, how many lost (deleted), how many misheard. */
  overlap: WerCounts & { wer: number; misattributed: number };
  /** Everything outside the overlap. */
  total: WerCounts & { wer: number; misattributed: number };
  /** Words in lines attributed to participants who never speak (silent or noisy microphones). */
  wordsOnSilentMicrophones: Record<string, number>;
}

interface RefWord {
  word: string;
  speaker: string;
  atMs: number;
}

/** The overlapping stretches of the script: [start, end) where two or more utterances are on at once. */
export function overlapSpans(script: MeetingScript): { startMs: number; endMs: number }[] {
  const spans: { startMs: number; endMs: number }[] = [];
  const us = script.utterances;
  for (let i = 0; i < us.length; i++) {
    for (let j = i + 1; j < us.length; j++) {
      const a = us[i];
      const b = us[j];
      if (!a || !b) continue;
      const startMs = Math.max(a.startMs, b.startMs);
      const endMs = Math.min(a.endMs, b.endMs);
      if (startMs < endMs) spans.push({ startMs, endMs });
    }
  }
  return spans;
}

function referenceWords(script: MeetingScript): RefWord[] {
  const out: RefWord[] = [];
  for (const u of [...script.utterances].sort((a, b) => a.startMs - b.startMs)) {
    const words = normaliseWords(u.text);
    const chars = words.reduce((n, w) => n + w.length + 1, 0);
    let before = 0;
    for (const word of words) {
      const mid = (before + word.length / 2) / Math.max(1, chars);
      out.push({ word, speaker: u.speaker, atMs: u.startMs + mid * (u.endMs - u.startMs) });
      before += word.length + 1;
    }
  }
  return out;
}

const zero = (): WerCounts => ({ words: 0, hits: 0, substitutions: 0, deletions: 0, insertions: 0 });

function add(c: WerCounts, op: AlignedPair['op']): void {
  if (op === 'hit') c.hits++;
  else if (op === 'sub') c.substitutions++;
  else if (op === 'del') c.deletions++;
  else c.insertions++;
  if (op !== 'ins') c.words++;
}

export function scoreTranscript(script: MeetingScript, lines: readonly HypothesisLine[]): AccuracyScore {
  const silent = new Set(script.participants.filter((p) => p.silent).map((p) => p.identity));
  const wordsOnSilentMicrophones: Record<string, number> = Object.fromEntries([...silent].map((s) => [s, 0]));
  const hyp: { word: string; speaker: string | null }[] = [];
  for (const l of [...lines].sort((a, b) => a.startMs - b.startMs)) {
    const words = normaliseWords(l.text);
    if (l.speaker !== null && silent.has(l.speaker)) wordsOnSilentMicrophones[l.speaker] = (wordsOnSilentMicrophones[l.speaker] ?? 0) + words.length;
    for (const word of words) hyp.push({ word, speaker: l.speaker });
  }
  const ref = referenceWords(script);
  const spans = overlapSpans(script);
  const inOverlap = (w: RefWord) => spans.some((s) => w.atMs >= s.startMs && w.atMs < s.endMs);

  const speakers = [...new Set(script.utterances.map((u) => u.speaker))];
  const per = new Map(speakers.map((s) => [s, { ...zero(), misattributed: 0 }]));
  const overlap = { ...zero(), misattributed: 0 };
  const total = { ...zero(), misattributed: 0 };
  const pairs = alignWords(
    ref.map((r) => r.word),
    hyp.map((h) => h.word),
  );
  let lastRef: RefWord | undefined = ref[0];
  for (const p of pairs) {
    const r = p.ref !== undefined ? ref[p.ref] : lastRef;
    if (p.ref !== undefined) lastRef = ref[p.ref];
    if (!r) continue; // an insertion in a meeting with no reference words at all
    const bucket = inOverlap(r) ? overlap : (per.get(r.speaker) ?? overlap);
    const counts = [bucket, ...(bucket === overlap ? [] : [total])];
    for (const c of counts) add(c, p.op);
    if ((p.op === 'hit' || p.op === 'sub') && p.hyp !== undefined && hyp[p.hyp]?.speaker !== r.speaker) {
      for (const c of counts) c.misattributed++;
    }
  }
  return {
    perSpeaker: speakers.map((speaker) => {
      const c = per.get(speaker) ?? { ...zero(), misattributed: 0 };
      return { speaker, ...c, wer: werOf(c) };
    }),
    overlap: { ...overlap, wer: werOf(overlap) },
    total: { ...total, wer: werOf(total) },
    wordsOnSilentMicrophones,
  };
}
