/**
 * Finds the recorded audio an upload was cut from: the cassette entry and offset where the
 * upload's energy envelope correlates best, and the window of recorded segments to answer with.
 */
import type { Provider, SilenceEntry, TranscriptionEntry } from './cassette.js';
import { alignFingerprint, decodeFingerprint, type Alignment, type Fingerprint } from './fingerprint.js';

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

export interface TranscriptionHit {
  entry: TranscriptionEntry;
  alignment: Alignment;
  /** Where the upload starts in the recorded audio, seconds (may be slightly negative). */
  fromSec: number;
}

export interface TranscriptionMiss {
  /** Entries of this provider whose model and language fit the request. */
  candidates: number;
  /** The best alignment found, even if under the threshold, to say how far off the request was. */
  closest: { entryId: string; score: number; offsetSec: number; inside: number } | null;
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
  let best: { entry: TranscriptionEntry; alignment: Alignment } | null = null;
  for (const entry of candidates) {
    const fp = fingerprintOf(entry);
    if (fp.frameMs !== q.fingerprint.frameMs) continue;
    const alignment = alignFingerprint(q.fingerprint, fp, opts.minInside);
    // Strictly better only: on a tie the earlier entry (per-speaker tracks before the mix) wins.
    if (alignment && (!best || alignment.score > best.alignment.score)) best = { entry, alignment };
  }
  if (best && best.alignment.score >= opts.minScore) {
    const fromSec = (best.alignment.offsetFrames * q.fingerprint.frameMs) / 1000;
    return { hit: { entry: best.entry, alignment: best.alignment, fromSec } };
  }
  return {
    miss: {
      candidates: candidates.length,
      closest: best
        ? {
            entryId: best.entry.id,
            score: Math.round(best.alignment.score * 1000) / 1000,
            offsetSec: (best.alignment.offsetFrames * q.fingerprint.frameMs) / 1000,
            inside: Math.round(best.alignment.inside * 100) / 100,
          }
        : null,
    },
  };
}

export function findSilenceEntry(entries: readonly SilenceEntry[], q: Omit<TranscriptionQuery, 'fingerprint'>): SilenceEntry | undefined {
  return entries.find((e) => e.provider === q.provider && modelFits(e.model, q.model) && languageFits(e.language, q.language));
}
