/**
 * Audio fingerprints for replaying speech-to-text answers.
 *
 * Uploads cannot be matched by their bytes: live capture goes through LiveKit's Opus, VAD cuts
 * move by tens of milliseconds, and the agent re-encodes to FLAC. What survives all of that is the
 * loudness envelope of the speech, so a fingerprint is the log-energy of every 20 ms frame of the
 * 16 kHz mono signal, quantised to half-decibel steps in one byte. Two envelopes are compared with
 * a normalised cross-correlation, which ignores a constant gain (AGC, a quieter encoder) and finds
 * where a short upload sits inside a long recorded track.
 */

export const SAMPLE_RATE = 16_000;
export const FRAME_MS = 20;
const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000;

/** dBFS of quantised value 0; one step is half a decibel, so 255 is +27.5 dBFS (never reached). */
const DB_MIN = -100;
const DB_STEP = 0.5;

/**
 * Frames quieter than this are treated as equal when correlating: encoders and resamplers leave
 * different noise floors in silence, and the difference between -90 and -70 dBFS carries no speech.
 */
const CORRELATION_FLOOR_DB = -60;

/** Default loudness under which a whole upload counts as silence (no frame reaches it). */
export const DEFAULT_SILENCE_FLOOR_DB = -45;

export interface Fingerprint {
  frameMs: number;
  /** One byte per frame: (dBFS - DB_MIN) / DB_STEP. */
  frames: Uint8Array;
}

/** Fingerprint of 16 kHz mono 16-bit PCM. A trailing partial frame is dropped. */
export function fingerprintPcm(samples: Int16Array): Fingerprint {
  const count = Math.floor(samples.length / FRAME_SAMPLES);
  const frames = new Uint8Array(count);
  for (let f = 0; f < count; f++) {
    let sum = 0;
    const base = f * FRAME_SAMPLES;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      const s = (samples[base + i] ?? 0) / 32768;
      sum += s * s;
    }
    const db = 10 * Math.log10(sum / FRAME_SAMPLES + 1e-12);
    frames[f] = Math.max(0, Math.min(255, Math.round((db - DB_MIN) / DB_STEP)));
  }
  return { frameMs: FRAME_MS, frames };
}

export function frameDb(q: number): number {
  return DB_MIN + q * DB_STEP;
}

export function durationSec(fp: Fingerprint): number {
  return (fp.frames.length * fp.frameMs) / 1000;
}

/** True when no frame reaches `floorDb`: nothing a recogniser could hear as speech. */
export function isSilent(fp: Fingerprint, floorDb = DEFAULT_SILENCE_FLOOR_DB): boolean {
  const floorQ = (floorDb - DB_MIN) / DB_STEP;
  for (const q of fp.frames) if (q >= floorQ) return false;
  return true;
}

export function encodeFingerprint(fp: Fingerprint): string {
  return Buffer.from(fp.frames.buffer, fp.frames.byteOffset, fp.frames.byteLength).toString('base64');
}

export function decodeFingerprint(base64: string, frameMs = FRAME_MS): Fingerprint {
  return { frameMs, frames: new Uint8Array(Buffer.from(base64, 'base64')) };
}

export interface Alignment {
  /** Pearson correlation of the two envelopes over the overlap, in [-1, 1]; 0 if either is flat. */
  score: number;
  /** Recorded frame that upload frame 0 lines up with (negative: the upload starts before the recording). */
  offsetFrames: number;
  /** Fraction of the upload's frames that lie inside the recording. */
  inside: number;
}

/** Both envelopes, floored, for correlating; they must have the same frame length. */
function envelopes(upload: Fingerprint, recorded: Fingerprint): { u: Float64Array; r: Float64Array } {
  if (upload.frameMs !== recorded.frameMs) throw new Error(`frame sizes differ: ${upload.frameMs} vs ${recorded.frameMs} ms`);
  return { u: floored(upload), r: floored(recorded) };
}

function floored(fp: Fingerprint): Float64Array {
  const floorQ = (CORRELATION_FLOOR_DB - DB_MIN) / DB_STEP;
  const out = new Float64Array(fp.frames.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(floorQ, fp.frames[i] ?? 0);
  return out;
}

/**
 * Best position of `upload` inside `recorded`, trying every offset where at least `minInside` of
 * the upload overlaps the recording. O(upload x recording); a minute-long upload against an hour
 * of recording is ~500 M multiply-adds, so callers with long recordings should bench it.
 */
export function alignFingerprint(upload: Fingerprint, recorded: Fingerprint, minInside = 0.8): Alignment | null {
  const { u, r } = envelopes(upload, recorded);
  const n = u.length;
  const m = r.length;
  if (n === 0 || m === 0) return null;
  const minOverlap = Math.max(1, Math.ceil(n * minInside));

  // Prefix sums make every window's mean and variance O(1).
  const uSum = prefix(u, false);
  const uSq = prefix(u, true);
  const rSum = prefix(r, false);
  const rSq = prefix(r, true);

  let best: Alignment | null = null;
  for (let k = minOverlap - n; k <= m - minOverlap; k++) {
    const uStart = Math.max(0, -k);
    const uEnd = Math.min(n, m - k);
    const len = uEnd - uStart;
    if (len < minOverlap) continue;
    const rStart = uStart + k;
    const su = (uSum[uEnd] ?? 0) - (uSum[uStart] ?? 0);
    const sr = (rSum[rStart + len] ?? 0) - (rSum[rStart] ?? 0);
    const varU = (uSq[uEnd] ?? 0) - (uSq[uStart] ?? 0) - (su * su) / len;
    const varR = (rSq[rStart + len] ?? 0) - (rSq[rStart] ?? 0) - (sr * sr) / len;
    let score = 0;
    // A flat stretch (silence on the other speaker's track) has no envelope to correlate with.
    if (varU > 1e-6 * len && varR > 1e-6 * len) {
      let dot = 0;
      for (let i = uStart; i < uEnd; i++) dot += (u[i] ?? 0) * (r[i + k] ?? 0);
      score = (dot - (su * sr) / len) / Math.sqrt(varU * varR);
    }
    if (!best || score > best.score) best = { score, offsetFrames: k, inside: len / n };
  }
  return best;
}

export interface BlockAlignmentOptions {
  /** Longest block of speech, in frames (default 50: 1 s of 20 ms frames); longer stretches are split. */
  blockFrames?: number;
  /** How far a block may sit from the one before it, in frames (default 25: 500 ms of gap or drop). */
  maxStepFrames?: number;
}

export interface BlockAlignment extends Alignment {
  /** Recorded frames the upload spans (upload frames, plus the drops, minus the gaps). */
  spanFrames: number;
  /** Blocks with an envelope (speech) that were correlated, and how many blocks in all. */
  blocks: { scored: number; total: number };
}

/** A block whose envelope varies less than this (3 dB standard deviation) is a pause: nothing to align. */
const FLAT_BLOCK_VARIANCE = (3 / DB_STEP) ** 2;
/** Speech shorter than this (100 ms) is too little envelope to place on its own: it follows its neighbours. */
const MIN_BLOCK_FRAMES = 5;
/** A run of this many frames (60 ms) at the correlation floor separates two blocks: a pause or a gap. */
const QUIET_RUN_FRAMES = 3;
const FLOOR_Q = (CORRELATION_FLOOR_DB - DB_MIN) / DB_STEP;
/** A block that scores under 0.95 is tried as two halves (twice over), each within 4 frames (80 ms) of it. */
const SPLIT_DEPTH = 2;
const SPLIT_STEP_FRAMES = 4;
const MIN_SPLIT_FRAMES = 12;

/**
 * Aligns an upload whose timeline no longer matches the recording's: the live WebRTC path, on a
 * busy machine, plays silence where packets came late and drops audio to catch up, so one offset
 * cannot fit the whole upload. The upload is cut at every quiet run (a pause, or an inserted gap)
 * and long speech into blocks of at most `blockFrames`; the longest block is placed anywhere in the
 * recording, then each next block (both ways) within `maxStepFrames` of its neighbour. Quiet and
 * very short blocks follow their neighbour and are not scored. The score is the length-weighted
 * mean Pearson correlation of the scored blocks: a clean upload scores about as with
 * `alignFingerprint`; another track, or the same audio in another order, scores low.
 * Measured on the fixture meeting's 22 utterances through Opus, with a gap every 2.5-4.5 s (60-260 ms
 * of silence) and a 20-60 ms drop every 0.8-2 s: 20 score 0.87-0.99 (none reaches 0.8 with one
 * offset: 0.36-0.76); the same utterances cut in four and played last to first score 0.54-0.74.
 * Cost: O(block x recording + upload x step).
 */
export function alignInBlocks(upload: Fingerprint, recorded: Fingerprint, options: BlockAlignmentOptions = {}): BlockAlignment | null {
  const { u, r } = envelopes(upload, recorded);
  const n = u.length;
  const m = r.length;
  if (n === 0 || m === 0) return null;
  const step = options.maxStepFrames ?? 25;
  const blocks = pieces(u, options.blockFrames ?? 50).map(({ from, to, quiet }) => ({
    from,
    to,
    flat: quiet || to - from < MIN_BLOCK_FRAMES || variance(u, from, to) < FLAT_BLOCK_VARIANCE,
    offset: 0,
    score: 0,
  }));
  const anchor = blocks.reduce<number | null>((best, b, i) => {
    if (b.flat) return best;
    return best === null || b.to - b.from > blocks[best]!.to - blocks[best]!.from ? i : best;
  }, null);
  if (anchor === null) return { score: 0, offsetFrames: 0, inside: 0, spanFrames: n, blocks: { scored: 0, total: blocks.length } };

  const place = (b: (typeof blocks)[number], lo: number, hi: number) => {
    b.score = -Infinity;
    const len = b.to - b.from;
    for (let k = Math.max(lo, Math.ceil(-len / 2) - b.from); k <= Math.min(hi, m - Math.ceil(len / 2) - b.from); k++) {
      const score = correlate(u, r, b.from, b.to, k);
      if (score > b.score) {
        b.score = score;
        b.offset = k;
      }
    }
    if (b.score === -Infinity) b.score = 0;
  };
  place(blocks[anchor]!, -n, m);
  for (let i = anchor + 1; i < blocks.length; i++) {
    const b = blocks[i]!;
    const prev = blocks[i - 1]!.offset;
    if (b.flat) b.offset = prev;
    else place(b, prev - step, prev + step);
  }
  for (let i = anchor - 1; i >= 0; i--) {
    const b = blocks[i]!;
    const next = blocks[i + 1]!.offset;
    if (b.flat) b.offset = next;
    else place(b, next - step, next + step);
  }

  // A drop inside a block moves the rest of it by a frame or three: halves may shift a little more.
  const refined = blocks.flatMap((b) => refine(b, SPLIT_DEPTH));
  function refine(b: (typeof blocks)[number], depth: number): (typeof blocks)[number][] {
    const len = b.to - b.from;
    if (b.flat || depth === 0 || b.score >= 0.95 || len < 2 * MIN_SPLIT_FRAMES) return [b];
    const mid = b.from + Math.floor(len / 2);
    const halves = [
      { ...b, to: mid },
      { ...b, from: mid },
    ];
    for (const h of halves) place(h, b.offset - SPLIT_STEP_FRAMES, b.offset + SPLIT_STEP_FRAMES);
    const score = (halves[0]!.score * (mid - b.from) + halves[1]!.score * (b.to - mid)) / len;
    return score > b.score ? halves.flatMap((h) => refine(h, depth - 1)) : [b];
  }

  let weighted = 0;
  let weight = 0;
  let insideFrames = 0;
  for (const b of refined) {
    insideFrames += Math.max(0, Math.min(b.to, m - b.offset) - Math.max(b.from, -b.offset));
    if (b.flat) continue;
    weighted += b.score * (b.to - b.from);
    weight += b.to - b.from;
  }
  const first = refined[0]!;
  const last = refined[refined.length - 1]!;
  return {
    score: weight > 0 ? weighted / weight : 0,
    offsetFrames: first.offset,
    inside: insideFrames / n,
    spanFrames: last.to + last.offset - first.offset,
    blocks: { scored: refined.filter((b) => !b.flat).length, total: refined.length },
  };
}

/** The upload as quiet runs and the speech between them, speech split in pieces of at most `max` frames. */
function pieces(u: Float64Array, max: number): { from: number; to: number; quiet: boolean }[] {
  const quietRunAt = (i: number) => {
    let j = i;
    while (j < u.length && (u[j] ?? 0) <= FLOOR_Q) j++;
    return j - i;
  };
  const out: { from: number; to: number; quiet: boolean }[] = [];
  let i = 0;
  while (i < u.length) {
    const run = quietRunAt(i);
    if (run >= QUIET_RUN_FRAMES || (run > 0 && i + run >= u.length)) {
      out.push({ from: i, to: i + run, quiet: true });
      i += run;
      continue;
    }
    let j = i;
    while (j < u.length) {
      const q = quietRunAt(j);
      if (q >= QUIET_RUN_FRAMES || (q > 0 && j + q >= u.length)) break;
      j += Math.max(1, q);
    }
    const count = Math.max(1, Math.round((j - i) / max));
    for (let c = 0; c < count; c++) out.push({ from: i + Math.floor((c * (j - i)) / count), to: i + Math.floor(((c + 1) * (j - i)) / count), quiet: false });
    i = j;
  }
  return out;
}

function variance(a: Float64Array, from: number, to: number): number {
  const len = to - from;
  if (len <= 0) return 0;
  let sum = 0;
  let sq = 0;
  for (let i = from; i < to; i++) {
    const v = a[i] ?? 0;
    sum += v;
    sq += v * v;
  }
  return sq / len - (sum / len) ** 2;
}

/** Pearson correlation of u[from, to) with r shifted by k, over the part inside r; 0 if either side is flat. */
function correlate(u: Float64Array, r: Float64Array, from: number, to: number, k: number): number {
  const s = Math.max(from, -k);
  const e = Math.min(to, r.length - k);
  const len = e - s;
  if (len <= 1) return 0;
  let su = 0;
  let sr = 0;
  let suu = 0;
  let srr = 0;
  let sur = 0;
  for (let i = s; i < e; i++) {
    const a = u[i] ?? 0;
    const b = r[i + k] ?? 0;
    su += a;
    sr += b;
    suu += a * a;
    srr += b * b;
    sur += a * b;
  }
  const varU = suu - (su * su) / len;
  const varR = srr - (sr * sr) / len;
  if (varU <= 1e-6 * len || varR <= 1e-6 * len) return 0;
  return (sur - (su * sr) / len) / Math.sqrt(varU * varR);
}

function prefix(a: Float64Array, squared: boolean): Float64Array {
  const out = new Float64Array(a.length + 1);
  for (let i = 0; i < a.length; i++) {
    const v = a[i] ?? 0;
    out[i + 1] = (out[i] ?? 0) + (squared ? v * v : v);
  }
  return out;
}
