/**
 * Finds the recorded audio an upload was cut from: the cassette entry and offset where the
 * upload's energy envelope correlates best, and the window of recorded segments to answer with.
 *
 * First with one offset for the whole upload. When no entry reaches the score that way, again in
 * 2 s blocks that may each move up to 500 ms from their neighbour: on a busy machine the live
 * WebRTC path inserts concealment and drops audio, so a faithful upload no longer fits any single
 * offset (issue 11). The hit says which way it matched and with what score, so a test can tell a
 * busy machine (blocks) from a bad cut (no match at all).
 */
import type { Provider, SilenceEntry, TranscriptionEntry } from './cassette.js';
import { alignFingerprint, alignInBlocks, decodeFingerprint, type Alignment, type Fingerprint } from './fingerprint.js';

export interface MatchOptions {
  /** Lowest correlation accepted as "the same audio" (0..1). */
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

/** `whole`: one offset fits the whole upload; `blocks`: it took 2 s blocks with gaps and drops between them. */
export type MatchMethod = 'whole' | 'blocks';

export interface TranscriptionHit {
  entry: TranscriptionEntry;
  alignment: Alignment;
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
  const uploadFrames = q.fingerprint.frames.length;
  let best: { entry: TranscriptionEntry; alignment: Alignment; method: MatchMethod; spanFrames: number } | null = null;
  // Strictly better only: on a tie the earlier entry (per-speaker tracks before the mix) wins.
  for (const entry of comparable) {
    const alignment = alignFingerprint(q.fingerprint, fingerprintOf(entry), opts.minInside);
    if (alignment && (!best || alignment.score > best.alignment.score)) best = { entry, alignment, method: 'whole', spanFrames: uploadFrames };
  }
  if (!best || best.alignment.score < opts.minScore) {
    for (const entry of comparable) {
      const alignment = alignInBlocks(q.fingerprint, fingerprintOf(entry));
      if (!alignment || alignment.inside < opts.minInside) continue;
      if (!best || alignment.score > best.alignment.score) best = { entry, alignment, method: 'blocks', spanFrames: alignment.spanFrames };
    }
  }
  if (best && best.alignment.score >= opts.minScore) {
    const { entry, alignment, method } = best;
    return { hit: { entry, alignment, method, fromSec: alignment.offsetFrames * frameSec, spanSec: best.spanFrames * frameSec } };
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
            method: best.method,
          }
        : null,
    },
  };
}

export function findSilenceEntry(entries: readonly SilenceEntry[], q: Omit<TranscriptionQuery, 'fingerprint'>): SilenceEntry | undefined {
  return entries.find((e) => e.provider === q.provider && modelFits(e.model, q.model) && languageFits(e.language, q.language));
}
