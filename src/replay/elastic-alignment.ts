/**
 * Elastic alignment of a live upload's loudness envelope against a recorded track's, for uploads
 * whose timeline no longer fits one offset: on a busy machine the live WebRTC path plays silence
 * (or stretched speech, the jitter buffer's concealment) where packets came late, and drops 20-60 ms
 * to catch up; Opus blurs onsets by a frame; and a short upload (one sentence, 1-2 s) has too few
 * frames for one damaged stretch not to dominate a global correlation.
 *
 * The upload is aligned frame by frame with a dynamic program (as in audio-to-audio alignment):
 * each upload frame either matches the next recorded frame, matches one 20-60 ms further on (frames
 * dropped), or has no recorded counterpart (inserted), each move with a cost, the whole path within
 * `maxDriftFrames` of a starting offset. The starting offsets are the best places of the whole
 * envelope and of its longest pieces of speech, so a damaged onset cannot hide the rest.
 *
 * The score is what a listener would check: of the frames where the upload or the aligned recording
 * holds speech, the fraction whose loudness agrees within `TOLERANCE_DB` (after one gain for the
 * whole upload). Recorded speech the upload skipped counts against it, and so does an inserted
 * frame: whole if it is rising speech, half if fading speech (concealment), a quarter if silence (a
 * gap). The same audio scores 0.82-1 however it was damaged; another meeting's speech, or noise
 * shaped like speech, at most 0.78 (figures in src/replay/README.md, from elastic-alignment.test.ts).
 */
import type { Alignment, Fingerprint } from './fingerprint.js';
import { correlationCurve, frameDb } from './fingerprint.js';

export interface ElasticAlignment extends Alignment {
  /** Recorded frames the upload spans, from its first frame's place to its last's. */
  spanFrames: number;
  /** Upload or recording frames with speech on the path, and how many of them agree. */
  speechFrames: number;
  matchedFrames: number;
  /** Upload frames inserted and recorded frames dropped on the path (0: one offset fits the whole upload). */
  moves: number;
}

export interface ElasticOptions {
  /** How far the path may wander from its starting offset, in frames (default 40: 800 ms). */
  maxDriftFrames?: number;
}

/** Under this (dBFS), a frame is treated as silence: floors of encoders differ there. */
const FLOOR_DB = -60;
/** At or over this (dBFS), a frame holds speech and counts in the score. */
const SPEECH_DB = -45;
/** Two frames agree when their loudness differs by at most this after the upload's gain (dB). */
const TOLERANCE_DB = 5;
/** Most a single frame can cost (dB): a damaged frame costs this, however far off it is. */
const CAP_DB = 15;
/** Cost of an upload frame with no recorded counterpart (dB-equivalent), and of each dropped recorded frame. */
const INSERT_COST = 8;
const DROP_COST = 6;
/** Most recorded frames one step may skip (60 ms: the live path drops 20-60 ms at a time). */
const MAX_DROP = 3;
/** Starting offsets tried per recorded track: peaks of the whole envelope's correlation, and places of its longest pieces. */
const WHOLE_PEAKS = 3;
const PIECES = 3;
/** A piece of speech used to find a starting offset (1 s of 20 ms frames). */
const PIECE_FRAMES = 50;

/**
 * Best elastic alignment of `upload` inside `recorded`, or null when either is empty.
 * Cost: O(upload x recording) for the starting offsets, O(upload x drift x 5) per offset.
 */
export function alignElastic(upload: Fingerprint, recorded: Fingerprint, options: ElasticOptions = {}): ElasticAlignment | null {
  if (upload.frameMs !== recorded.frameMs) throw new Error(`frame sizes differ: ${upload.frameMs} vs ${recorded.frameMs} ms`);
  const u = toDb(upload);
  const r = toDb(recorded);
  if (u.length === 0 || r.length === 0) return null;
  const drift = options.maxDriftFrames ?? 40;
  let best: ElasticAlignment | null = null;
  for (const start of startingOffsets(upload, recorded, u, drift)) {
    const a = followPath(u, r, start, drift);
    if (a && (!best || a.score > best.score)) best = a;
  }
  return best;
}

function toDb(fp: Fingerprint): Float64Array {
  const out = new Float64Array(fp.frames.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(FLOOR_DB, frameDb(fp.frames[i] ?? 0));
  return out;
}

/** Offsets (recorded frame of upload frame 0) worth following: correlation peaks of the whole upload and of its longest pieces of speech. */
function startingOffsets(upload: Fingerprint, recorded: Fingerprint, u: Float64Array, separation: number): number[] {
  const out: number[] = [];
  const addPeaks = (curve: { from: number; scores: Float64Array }, count: number, shift: number) => {
    const order = [...curve.scores.keys()].sort((a, b) => (curve.scores[b] ?? 0) - (curve.scores[a] ?? 0));
    const taken: number[] = [];
    for (const i of order) {
      if (taken.length >= count) break;
      if (taken.some((t) => Math.abs(t - i) < separation)) continue;
      taken.push(i);
      out.push(curve.from + i - shift);
    }
  };
  addPeaks(correlationCurve(upload, recorded, 0.5), WHOLE_PEAKS, 0);
  // The longest runs of speech, in pieces of about a second: each placed anywhere on its own.
  const pieces: { from: number; to: number }[] = [];
  let i = 0;
  while (i < u.length) {
    if ((u[i] ?? FLOOR_DB) < SPEECH_DB) {
      i++;
      continue;
    }
    let j = i;
    while (j < u.length && (u[j] ?? FLOOR_DB) >= SPEECH_DB - 10) j++;
    for (let p = i; p < j; p += PIECE_FRAMES) pieces.push({ from: p, to: Math.min(j, p + PIECE_FRAMES) });
    i = j;
  }
  pieces.sort((a, b) => b.to - b.from - (a.to - a.from));
  for (const p of pieces.slice(0, PIECES)) {
    if (p.to - p.from < 10) continue;
    const piece = { frameMs: upload.frameMs, frames: upload.frames.subarray(p.from, p.to) };
    addPeaks(correlationCurve(piece, recorded, 1), 1, p.from);
  }
  return [...new Set(out)];
}

/**
 * The cheapest path of the upload through the recording within `drift` frames of `start`. State:
 * d = recorded frame - upload frame; into d at frame i from d (match), d-1..d-MAX_DROP (match after
 * dropped recorded frames) or d+1 (upload frame inserted).
 */
function followPath(u: Float64Array, r: Float64Array, start: number, drift: number): ElasticAlignment | null {
  const n = u.length;
  const w = 2 * drift + 1;
  const gain = estimateGain(u, r, start);
  const rAt = (j: number) => (j >= 0 && j < r.length ? (r[j] ?? FLOOR_DB) + gain : FLOOR_DB + gain);
  const inside = (j: number) => j >= 0 && j < r.length;

  let cost = new Float64Array(w);
  let next = new Float64Array(w);
  // Per state: speech frames counted and agreeing (in quarter frames), frames inside the
  // recording, moves, and the offset the path started at.
  let counted = new Int32Array(w);
  let agreed = new Int32Array(w);
  let within = new Int32Array(w);
  let first = new Int32Array(w);
  let moves = new Int32Array(w);
  let nMoves = new Int32Array(w);
  let nCounted = new Int32Array(w);
  let nAgreed = new Int32Array(w);
  let nWithin = new Int32Array(w);
  let nFirst = new Int32Array(w);

  const local = (i: number, j: number) => {
    const a = u[i] ?? FLOOR_DB;
    const b = Math.max(FLOOR_DB, rAt(j));
    const speech = a >= SPEECH_DB || b >= SPEECH_DB;
    const diff = Math.abs(a - b);
    return { cost: speech || diff > TOLERANCE_DB ? Math.min(CAP_DB, diff) : 0, speech, agrees: diff <= TOLERANCE_DB };
  };

  for (let s = 0; s < w; s++) {
    const d = start - drift + s;
    const l = local(0, d);
    cost[s] = l.cost;
    counted[s] = l.speech ? 4 : 0;
    agreed[s] = l.speech && l.agrees ? 4 : 0;
    within[s] = inside(d) ? 1 : 0;
    first[s] = d;
    moves[s] = 0;
  }
  for (let i = 1; i < n; i++) {
    const uSpeech = (u[i] ?? FLOOR_DB) >= SPEECH_DB;
    const insertCost = uSpeech ? INSERT_COST : 1;
    // Against the score, in quarter frames: an inserted frame of speech counts whole, one no louder
    // than the frame before (concealment fading out) half, silence (a gap) a quarter.
    const insertWeight = !uSpeech ? 1 : (u[i] ?? FLOOR_DB) > (u[i - 1] ?? FLOOR_DB) + 1 ? 4 : 2;
    for (let s = 0; s < w; s++) {
      const d = start - drift + s;
      const l = local(i, i + d);
      // Match from the same offset, or after dropping 1..MAX_DROP recorded frames.
      let bestCost = Infinity;
      let from = -1;
      let inserted = false;
      let droppedSpeech = 0;
      for (let drop = 0; drop <= MAX_DROP && s - drop >= 0; drop++) {
        const c = (cost[s - drop] ?? Infinity) + l.cost + drop * DROP_COST;
        if (c < bestCost) {
          bestCost = c;
          from = s - drop;
        }
      }
      // Recorded speech the upload skipped: it counts as speech that does not agree.
      for (let j = i + d - (s - from); j < i + d; j++) if (inside(j) && rAt(j) >= SPEECH_DB) droppedSpeech++;
      // This upload frame has no counterpart: the previous state had the same recorded frame.
      if (s + 1 < w) {
        const c = (cost[s + 1] ?? Infinity) + insertCost;
        if (c < bestCost) {
          bestCost = c;
          from = s + 1;
          inserted = true;
          droppedSpeech = 0;
        }
      }
      next[s] = bestCost;
      nFirst[s] = first[from] ?? d;
      nCounted[s] = (counted[from] ?? 0) + (inserted ? insertWeight : (l.speech ? 4 : 0) + 4 * droppedSpeech);
      nMoves[s] = (moves[from] ?? 0) + (inserted ? 1 : s - from);
      nAgreed[s] = (agreed[from] ?? 0) + (!inserted && l.speech && l.agrees ? 4 : 0);
      nWithin[s] = (within[from] ?? 0) + (inserted || inside(i + d) ? 1 : 0);
    }
    [cost, next] = [next, cost];
    [counted, nCounted] = [nCounted, counted];
    [agreed, nAgreed] = [nAgreed, agreed];
    [within, nWithin] = [nWithin, within];
    [first, nFirst] = [nFirst, first];
    [moves, nMoves] = [nMoves, moves];
  }
  let end = 0;
  for (let s = 1; s < w; s++) if ((cost[s] ?? Infinity) < (cost[end] ?? Infinity)) end = s;
  const speechFrames = (counted[end] ?? 0) / 4;
  const matchedFrames = (agreed[end] ?? 0) / 4;
  const offsetFrames = first[end] ?? start;
  const lastFrame = n - 1 + start - drift + end;
  return {
    score: speechFrames > 0 ? matchedFrames / speechFrames : 0,
    offsetFrames,
    inside: (within[end] ?? 0) / n,
    spanFrames: lastFrame + 1 - offsetFrames,
    speechFrames,
    matchedFrames,
    moves: moves[end] ?? 0,
  };
}

/** Median loudness difference (dB) of frames where both hold speech at `offset`, within ±20 dB; 0 without any. */
function estimateGain(u: Float64Array, r: Float64Array, offset: number): number {
  const diffs: number[] = [];
  for (let i = 0; i < u.length; i++) {
    const a = u[i] ?? FLOOR_DB;
    const b = r[i + offset];
    if (b !== undefined && a >= SPEECH_DB && b >= SPEECH_DB) diffs.push(a - b);
  }
  if (diffs.length === 0) return 0;
  diffs.sort((x, y) => x - y);
  return Math.max(-20, Math.min(20, diffs[Math.floor(diffs.length / 2)] ?? 0));
}
