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
  const n = upload.frames.length;
  const curve = correlationCurve(upload, recorded, minInside);
  let best: Alignment | null = null;
  for (let i = 0; i < curve.scores.length; i++) {
    const k = curve.from + i;
    const score = curve.scores[i] ?? 0;
    if (!best || score > best.score) best = { score, offsetFrames: k, inside: (Math.min(n, recorded.frames.length - k) - Math.max(0, -k)) / n };
  }
  return best;
}

/**
 * Pearson correlation of the upload's envelope with the recording's at every offset where at least
 * `minInside` of the upload overlaps it: `scores[i]` is for offset `from + i` (recorded frame of
 * upload frame 0); 0 where either side is flat. Empty when either fingerprint is.
 */
export function correlationCurve(upload: Fingerprint, recorded: Fingerprint, minInside: number): { from: number; scores: Float64Array } {
  const { u, r } = envelopes(upload, recorded);
  const n = u.length;
  const m = r.length;
  if (n === 0 || m === 0) return { from: 0, scores: new Float64Array(0) };
  const minOverlap = Math.max(1, Math.ceil(n * minInside));

  // Prefix sums make every window's mean and variance O(1).
  const uSum = prefix(u, false);
  const uSq = prefix(u, true);
  const rSum = prefix(r, false);
  const rSq = prefix(r, true);

  const from = minOverlap - n;
  const scores = new Float64Array(Math.max(0, m - minOverlap - from + 1));
  for (let k = from; k <= m - minOverlap; k++) {
    const uStart = Math.max(0, -k);
    const uEnd = Math.min(n, m - k);
    const len = uEnd - uStart;
    if (len < minOverlap) continue;
    const rStart = uStart + k;
    const su = (uSum[uEnd] ?? 0) - (uSum[uStart] ?? 0);
    const sr = (rSum[rStart + len] ?? 0) - (rSum[rStart] ?? 0);
    const varU = (uSq[uEnd] ?? 0) - (uSq[uStart] ?? 0) - (su * su) / len;
    const varR = (rSq[rStart + len] ?? 0) - (rSq[rStart] ?? 0) - (sr * sr) / len;
    // A flat stretch (silence on the other speaker's track) has no envelope to correlate with.
    if (varU > 1e-6 * len && varR > 1e-6 * len) {
      let dot = 0;
      for (let i = uStart; i < uEnd; i++) dot += (u[i] ?? 0) * (r[i + k] ?? 0);
      scores[k - from] = (dot - (su * sr) / len) / Math.sqrt(varU * varR);
    }
  }
  return { from, scores };
}

function prefix(a: Float64Array, squared: boolean): Float64Array {
  const out = new Float64Array(a.length + 1);
  for (let i = 0; i < a.length; i++) {
    const v = a[i] ?? 0;
    out[i + 1] = (out[i] ?? 0) + (squared ? v * v : v);
  }
  return out;
}
