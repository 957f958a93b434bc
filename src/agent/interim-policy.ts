/**
 * When to show the words of an utterance still in progress (interim captions, INTERIM_CAPTIONS,
 * issue #15): read after every VAD window, it names the moment and how much of the utterance to send.
 *
 * - **A pause that did not end the utterance**: speech resumes after a pause of at least `pauseMs`
 *   (180 ms, a sentence pause as the segmenter reads it) that was too short to end it. That is the
 *   case captions otherwise wait for: a turn opening with a short sentence ("Bonjour.") then a longer
 *   one; the segmenter (sentence pauses need 3.5 s of speech, `utterance-segmenter.ts`) keeps both in
 *   one utterance. The audio sent ends where speech resumes: the sentence and its pause.
 * - **Long stretches without such a pause**: once `everyMs` (6 s) of the utterance went by since the
 *   last interim (or its start), at the next dip between words (the first window below the
 *   threshold), or wherever the speaker is after 1.5 × `everyMs` with no dip. Sentences of the
 *   fixtures last 0.4-7 s, so this rarely fires on speech paced by sentences, only in run-on speech.
 *   Measured offline (`interim-cuts.test.ts`, fixture meeting with sentence pauses): every 2 s costs
 *   +181 % calls and +85 % seconds against +58 % and +25 % at 6 s, for the same sentence-end p95
 *   (1152 against 1147 ms): within the sentences in progress the words come sooner, but not the ends.
 * Never before `minSpeechMs` of speech (the segmenter's own minimum, so an utterance that had an
 * interim is never dropped as too short afterwards), and never for less than `minNewSpeechMs` of new
 * speech since the last one (a dip that then grows into a pause asks once, not twice).
 * Figures: `interim-cuts.test.ts` (fixture meeting and monologue, real Silero) and BENCHMARKS.md.
 */
import type { UtteranceInProgress } from './utterance-segmenter.js';

export interface InterimPolicyOptions {
  sampleRate?: number;
  /** A pause of at least this long that did not end the utterance asks for an interim (default 180 ms). */
  pauseMs?: number;
  /** Without such a pause, an interim every this much of the utterance (default 6000 ms). */
  everyMs?: number;
  /** No interim before this much speech in the utterance (default 160 ms: the segmenter's minimum). */
  minSpeechMs?: number;
  /** No interim for less new speech than this since the last one (default 300 ms). */
  minNewSpeechMs?: number;
}

export interface InterimPoint {
  /** Track sample where the interim's audio ends (exclusive). */
  endSample: number;
  reason: 'pause' | 'speech';
}

export class InterimPolicy {
  readonly #pause: number;
  readonly #every: number;
  readonly #minSpeech: number;
  readonly #minNewSpeech: number;
  /** The utterance followed (its speech start), null between utterances. */
  #utterance: number | null = null;
  /** Where the last interim's audio ended, and the utterance's speech samples then. */
  #lastEnd = 0;
  #lastSpeech = 0;
  #previous: UtteranceInProgress | null = null;

  constructor(options: InterimPolicyOptions = {}) {
    const sr = options.sampleRate ?? 16_000;
    const ms = (v: number) => Math.round((v * sr) / 1000);
    this.#pause = ms(options.pauseMs ?? 180);
    this.#every = ms(options.everyMs ?? 6_000);
    this.#minSpeech = ms(options.minSpeechMs ?? 160);
    this.#minNewSpeech = ms(options.minNewSpeechMs ?? 300);
  }

  /** Call after every window with the segmenter's `inProgress`; returns where to send an interim now, or null. */
  observe(now: UtteranceInProgress | null): InterimPoint | null {
    if (!now) {
      this.#utterance = null;
      this.#previous = null;
      return null;
    }
    if (now.speechStartSample !== this.#utterance) {
      // A new utterance (or the next piece after a cut at the maximum length).
      this.#utterance = now.speechStartSample;
      this.#lastEnd = now.speechStartSample;
      this.#lastSpeech = 0;
      this.#previous = null;
    }
    const previous = this.#previous;
    this.#previous = now;
    if (!previous || now.speechSamples < this.#minSpeech || now.speechSamples - this.#lastSpeech < this.#minNewSpeech) return null;

    let point: InterimPoint | null = null;
    if (now.pauseSamples === 0 && previous.pauseSamples >= this.#pause) {
      point = { endSample: previous.position, reason: 'pause' };
    } else if (now.position - this.#lastEnd >= this.#every) {
      const dip = now.pauseSamples > 0 && previous.pauseSamples === 0;
      if (dip || now.position - this.#lastEnd >= this.#every + (this.#every >> 1)) point = { endSample: now.position, reason: 'speech' };
    }
    if (point) {
      this.#lastEnd = point.endSample;
      this.#lastSpeech = now.speechSamples;
    }
    return point;
  }
}
