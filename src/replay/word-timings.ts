/**
 * Word timings for ground-truth cassettes: where each word of a known sentence lies in the
 * speaker's own audio, so the replay double can answer a piece of a sentence (a live cut at a
 * pause inside it) with that piece's words, as a recogniser would (issue #15).
 *
 * The fixtures are synthetic speech (espeak-ng) whose script gives each sentence's span but not its
 * words. Inside a sentence, espeak-ng leaves short loudness dips between many words (and inside some,
 * at stop consonants), so neither a plain proportional split nor "every dip is a word boundary" is
 * right. The boundaries are chosen by a dynamic program over 10 ms frames that balances both: each
 * word's length should be near its share of the sentence (by letters, plus a fixed part per word),
 * and each boundary should fall on a quiet frame, a pause first. Measured (src/replay/README.md,
 * "Word timings"): where Silero ends speech inside a fixture sentence, 2-18 ms from a boundary
 * placed here; on synthetic speech within 40 ms of the true boundaries.
 */

/** A word with its span in the recorded audio's timeline, milliseconds. */
export interface WordSpan {
  /** The word as written in the sentence, punctuation attached ("tous,", "aujourd'hui :"). */
  word: string;
  startMs: number;
  endMs: number;
}

/** Analysis frame, ms. */
const FRAME_MS = 10;
/** Shortest word the alignment allows, ms (a French "à" said by espeak-ng lasts ~60 ms). */
const MIN_WORD_MS = 40;
/** How far a boundary may move from its proportional place, ms or a fraction of the sentence. */
const SEARCH_MS = 400;
/**
 * Weight of a boundary's loudness against the length prior: a boundary on a full-level frame costs
 * as much as four words each twice or half their expected length ((ln 2)² = 0.48 each).
 */
const QUIET_WEIGHT = 2;
/** A frame this far under the sentence's loud level (its 90th percentile) counts as fully quiet. */
const DIP_RANGE_DB = 30;
/** A frame this far under it is silence between words (espeak-ng's dips inside speech stay above). */
const SILENT_DB = 45;
/** A silent run this long is a pause between words, where a boundary goes first. */
const PAUSE_MS = 100;
/** Letters-equivalent each word costs on top of its letters (onset, transitions). */
const WORD_OVERHEAD = 2;

/**
 * The sentence's words as a recogniser writes them: whitespace-separated tokens, a token without a
 * letter or digit (French spaced punctuation ":" "?" "!", a dash) attached to the word before it,
 * so joining the words with one space gives the sentence back exactly (after whitespace collapse).
 */
export function wordTokens(text: string): string[] {
  const out: string[] = [];
  for (const t of text.trim().split(/\s+/)) {
    if (!t) continue;
    if (!/[\p{L}\p{N}]/u.test(t) && out.length > 0) out[out.length - 1] = `${out.at(-1)} ${t}`;
    else out.push(t);
  }
  return out;
}

/** Expected relative length of a spoken word: its letters and digits, plus a fixed part. */
function weight(word: string): number {
  return (word.match(/[\p{L}\p{N}]/gu)?.length ?? 0) + WORD_OVERHEAD;
}

/** Loudness (dB) of every 10 ms frame of `samples` between two sample indexes. */
function frameLoudness(samples: Int16Array, sampleRate: number, from: number, to: number): number[] {
  const n = Math.round((sampleRate * FRAME_MS) / 1000);
  const out: number[] = [];
  for (let at = from; at + n <= to; at += n) {
    let sum = 0;
    for (let i = at; i < at + n; i++) {
      const s = (samples[i] ?? 0) / 32768;
      sum += s * s;
    }
    out.push(10 * Math.log10(sum / n + 1e-10));
  }
  return out;
}

/**
 * Spans of `text`'s words (`wordTokens`) inside [startMs, endMs] of `samples` (mono PCM at
 * `sampleRate`). Words are contiguous: the first starts at startMs, the last ends at endMs, each
 * ends where the next starts, at a boundary chosen as described above. A one-word sentence gets the
 * whole span. Throws on an empty text or a span shorter than its words' minimum length.
 */
export function alignWords(samples: Int16Array, sampleRate: number, startMs: number, endMs: number, text: string): WordSpan[] {
  const words = wordTokens(text);
  if (words.length === 0) throw new Error(`alignWords: no word in "${text}"`);
  if (endMs - startMs < words.length * MIN_WORD_MS) throw new Error(`alignWords: ${words.length} words cannot fit in ${endMs - startMs} ms`);
  if (words.length === 1) return [{ word: words[0]!, startMs, endMs }];

  const from = Math.round((startMs * sampleRate) / 1000);
  const loud = frameLoudness(samples, sampleRate, from, Math.round((endMs * sampleRate) / 1000));
  const frames = loud.length;
  // Loudness at a frame, made relative: 0 at DIP_RANGE_DB under the sentence's loud level, 1 at it.
  const sorted = [...loud].sort((a, b) => a - b);
  const top = sorted[Math.floor(0.9 * (frames - 1))] ?? 0;
  const relative = (f: number) => Math.max(0, Math.min(1, ((loud[f] ?? top) - top + DIP_RANGE_DB) / DIP_RANGE_DB));
  const silent = (f: number) => (loud[f] ?? top) <= top - SILENT_DB;
  // Length of the silent run each frame lies in: a pause (not a stop consonant's closure).
  const run = loud.map(() => 0);
  for (let f = 0; f < frames; ) {
    let g = f;
    while (g < frames && silent(g)) g++;
    for (let i = f; i < g; i++) run[i] = g - f;
    f = Math.max(g, f + 1);
  }
  const pause = Math.round(PAUSE_MS / FRAME_MS);
  // A boundary at f sits between frames f-1 and f: the quieter of the two counts, and a boundary in
  // a pause is preferred to any dip, so a word never straddles a pause.
  const quiet = (f: number) => ((run[f] ?? 0) >= pause && (run[f - 1] ?? 0) >= pause ? -1 : Math.min(relative(f - 1), relative(f)));

  // Lengths count sounding frames only: a pause inside the sentence (between two of its clauses)
  // belongs to no word, and a boundary inside it is free to sit at either end.
  const sounding = loud.map((_, f) => !silent(f));
  const active = [0];
  for (const on of sounding) active.push(active.at(-1)! + (on ? 1 : 0));
  const weights = words.map(weight);
  const total = weights.reduce((a, b) => a + b, 0);
  const expected = weights.map((w) => (w / total) * Math.max(active[frames]!, words.length));
  const propFrames = weights.map((w) => (w / total) * frames);
  const minLen = Math.max(1, Math.round(MIN_WORD_MS / FRAME_MS));
  const search = Math.max(Math.round(SEARCH_MS / FRAME_MS), 1);
  // Proportional place of each boundary, and the frames it may take.
  const prop: number[] = [];
  let acc = 0;
  for (let k = 0; k < words.length - 1; k++) prop.push((acc += propFrames[k]!));
  const lo = (k: number) => Math.max((k + 1) * minLen, Math.floor(prop[k]! - search));
  const hi = (k: number) => Math.min(frames - (words.length - 1 - k) * minLen, Math.ceil(prop[k]! + search));
  const lengthCost = (k: number, from: number, to: number) => Math.log(Math.max(active[to]! - active[from]!, 1) / Math.max(expected[k]!, 1)) ** 2;

  // cost[k].get(f): best cost of boundaries 0..k with boundary k at frame f; back[k] the previous boundary.
  const cost: Map<number, number>[] = [];
  const back: Map<number, number>[] = [];
  for (let k = 0; k < words.length - 1; k++) {
    const c = new Map<number, number>();
    const b = new Map<number, number>();
    for (let f = lo(k); f <= hi(k); f++) {
      let best = Infinity;
      let arg = -1;
      const previous = k === 0 ? new Map([[0, 0]]) : cost[k - 1]!;
      for (const [p, pc] of previous) {
        if (f - p < minLen) continue;
        const v = pc + lengthCost(k, p, f);
        if (v < best) [best, arg] = [v, p];
      }
      if (arg >= 0) {
        c.set(f, best + QUIET_WEIGHT * quiet(f));
        b.set(f, arg);
      }
    }
    cost.push(c);
    back.push(b);
  }
  const last = words.length - 1;
  let end = -1;
  let best = Infinity;
  for (const [f, fc] of cost[last - 1]!) {
    if (frames - f < minLen) continue;
    const v = fc + lengthCost(last, f, frames);
    if (v < best) [best, end] = [v, f];
  }
  // Degenerate windows (many words in a short span): fall back to the proportional split.
  if (end < 0) return proportionalWords(startMs, endMs, text);
  const bounds: number[] = [];
  for (let k = last - 1, f = end; k >= 0; k--) {
    bounds.unshift(f);
    f = back[k]!.get(f)!;
  }
  const ms = (f: number) => Math.round(startMs + f * FRAME_MS);
  // A boundary in a silent run: the word before ends where the run starts, the next starts after it.
  const gaps = bounds.map((f) => {
    let a = f;
    let b = f;
    while (a > 0 && !sounding[a - 1]) a--;
    while (b < frames && !sounding[b]) b++;
    return a < b ? [a, b] : [f, f];
  });
  return words.map((word, i) => ({ word, startMs: i === 0 ? startMs : ms(gaps[i - 1]![1]!), endMs: i === last ? endMs : ms(gaps[i]![0]!) }));
}

/**
 * Proportional spans only (no audio): each word's share of the sentence by letters plus a fixed
 * part. The baseline `alignWords` is measured against.
 */
export function proportionalWords(startMs: number, endMs: number, text: string): WordSpan[] {
  const words = wordTokens(text);
  const weights = words.map(weight);
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  return words.map((word, i) => {
    const s = startMs + (acc / total) * (endMs - startMs);
    acc += weights[i]!;
    return { word, startMs: Math.round(s), endMs: Math.round(startMs + (acc / total) * (endMs - startMs)) };
  });
}
