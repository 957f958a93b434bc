/**
 * Finds the recorded audio an upload was cut from: the cassette entry and the stretch of it whose
 * loudness envelope the upload follows, and the window of recorded segments to answer with.
 *
 * One method (elastic-alignment.ts): the upload is followed frame by frame through the recording,
 * so gaps the live WebRTC path inserts on a busy machine, the 20-60 ms it drops to catch up, and a
 * frame of Opus blur no longer sink a short or damaged upload (issues 11 and 15); the score is the
 * fraction of speech frames whose loudness agrees. The hit says whether one offset fitted the whole
 * upload (`whole`) or the path had to skip or insert frames (`elastic`), with the score, so a test
 * can tell a busy machine from a bad cut (no match at all).
 */
import type { Provider, SilenceEntry, TranscriptionEntry } from './cassette.js';
import { alignElastic, type ElasticAlignment } from './elastic-alignment.js';
import { decodeFingerprint, type Fingerprint } from './fingerprint.js';

export interface MatchOptions {
  /** Lowest fraction of speech frames that must agree for "the same audio" (0..1). */
  minScore: number;
  /** Lowest fraction of the upload that must lie inside the recorded audio. */
  minInside: number;
}

export const DEFAULT_MATCH_OPTIONS: MatchOptions = { minScore: 0.8, minInside: 0.8 };

export interface TranscriptionQuery {
  provider: Provider;
  model: string;
  /** Language the request named, or null (then any entry's language is accepted). */
  language: string | null;
  fingerprint: Fingerprint;
}

/** `whole`: one offset fits the whole upload; `elastic`: the path skipped recorded frames or inserted upload frames (gaps, drops). */
export type MatchMethod = 'whole' | 'elastic';

export interface TranscriptionHit {
  entry: TranscriptionEntry;
  alignment: ElasticAlignment;
  method: MatchMethod;
  /** Where the upload starts in the recorded audio, seconds (may be slightly negative). */
  fromSec: number;
  /** How much recorded audio the upload covers, seconds (its own duration, give or take gaps and drops). */
  spanSec: number;
}

export interface TranscriptionMiss {
  /** Entries of this provider whose model and language fit the request. */
  candidates: number;
  /** The best alignment found, even if under the threshold, to say how far off the request was. */
  closest: { entryId: string; score: number; offsetSec: number; inside: number; method: MatchMethod } | null;
}

const modelFits = (entryModel: string, model: string) => entryModel === '*' || entryModel === model;
const languageFits = (entryLanguage: string, language: string | null) => language === null || entryLanguage === language;

const decoded = new WeakMap<TranscriptionEntry, Fingerprint>();
function fingerprintOf(entry: TranscriptionEntry): Fingerprint {
  let fp = decoded.get(entry);
  if (!fp) {
    fp = decodeFingerprint(entry.audio.fingerprint.data, entry.audio.fingerprint.frameMs);
    decoded.set(entry, fp);
  }
  return fp;
}

/** Checks that an entry's fingerprint decodes to the frame count it declares (a truncated base64 would not). */
export function checkEntryFingerprint(entry: TranscriptionEntry): string | null {
  const fp = fingerprintOf(entry);
  return fp.frames.length === entry.audio.fingerprint.frames
    ? null
    : `entry "${entry.id}": fingerprint has ${fp.frames.length} frames, header says ${entry.audio.fingerprint.frames}`;
}

export function matchTranscription(
  entries: readonly TranscriptionEntry[],
  q: TranscriptionQuery,
  opts: MatchOptions = DEFAULT_MATCH_OPTIONS,
): { hit: TranscriptionHit } | { miss: TranscriptionMiss } {
  const candidates = entries.filter((e) => e.provider === q.provider && modelFits(e.model, q.model) && languageFits(e.language, q.language));
  const comparable = candidates.filter((e) => fingerprintOf(e).frameMs === q.fingerprint.frameMs);
  const frameSec = q.fingerprint.frameMs / 1000;
  let best: { entry: TranscriptionEntry; alignment: ElasticAlignment } | null = null;
  // Strictly better only: on a tie the earlier entry (per-speaker tracks before the mix) wins.
  for (const entry of comparable) {
    const alignment = alignElastic(q.fingerprint, fingerprintOf(entry));
    if (!alignment || alignment.inside < opts.minInside) continue;
    if (!best || alignment.score > best.alignment.score) best = { entry, alignment };
  }
  if (best && best.alignment.score >= opts.minScore) {
    const { entry, alignment } = best;
    const method: MatchMethod = alignment.moves === 0 ? 'whole' : 'elastic';
    return { hit: { entry, alignment, method, fromSec: alignment.offsetFrames * frameSec, spanSec: alignment.spanFrames * frameSec } };
  }
  return {
    miss: {
      candidates: candidates.length,
      closest: best
        ? {
            entryId: best.entry.id,
            score: Math.round(best.alignment.score * 1000) / 1000,
            offsetSec: best.alignment.offsetFrames * frameSec,
            inside: Math.round(best.alignment.inside * 100) / 100,
            method: best.alignment.moves === 0 ? 'whole' : 'elastic',
          }
        : null,
    },
  };
}

export function findSilenceEntry(entries: readonly SilenceEntry[], q: Omit<TranscriptionQuery, 'fingerprint'>): SilenceEntry | undefined {
  return entries.find((e) => e.provider === q.provider && modelFits(e.model, q.model) && languageFits(e.language, q.language));
}
