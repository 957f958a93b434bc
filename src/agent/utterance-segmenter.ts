/**
 * Cuts one speaker's audio into utterances from the VAD's per-window speech probability.
 *
 * Silero's own START/END events are not used: its END_OF_SPEECH frames are views into a buffer it
 * reuses, and past `maxBufferedSpeech` (60 s) it drops the rest of an utterance. Here every window
 * is copied as it arrives, and an utterance ends at Silero's end of speech (`minSilenceMs`, 550 ms)
 * or, once it is long, at a shorter pause. By default (`sentenceAfterMs` unset or Infinity) a long
 * monologue is cut by us, at a pause, before the maximum:
 *   - from half the maximum on, at the first pause of at least `longPauseMs` (`long_pause`);
 *   - from 80 % on, at the first pause of at least `shortPauseMs` (`short_pause`);
 *   - at the maximum, wherever the speaker is (no pause came).
 * With sentence pauses on (a finite `sentenceAfterMs`, e.g. `SENTENCE_AFTER_MS`; the live agent's
 * CAPTION_SENTENCE_PAUSES setting), the required pause shrinks as the utterance grows, so live
 * captions follow a fluent speaker sentence by sentence (`sentence_pause`):
 *   - under `sentenceAfterMs` of speech (3.5 s), only Silero's end of speech;
 *   - from there, a sentence pause: `sentencePauseMs` (180 ms), shrinking linearly to `longPauseMs`
 *     (160 ms) at half the maximum and to `shortPauseMs` (64 ms) at 80 % of it;
 *   - at the maximum, wherever the speaker is (no pause came).
 * The live agent has them on (CAPTION_SENTENCE_PAUSES, true by default); recordings keep them off.
 * Figures (issue #15, measured with this Silero and its silence gate, `utterance-cuts.test.ts`): a
 * 250 ms pause between sentences is seen as 192-256 ms of windows below the threshold, a pause
 * inside a sentence (a comma, a breath) as 96-160 ms, so 180 ms ends sentences, not phrases (live,
 * through Opus, such a pause now and then reads longer and ends a piece there: no word is cut);
 * espeak-ng sentences at 145-180 words per minute last 3.7-7 s, so after 3.5 s of speech the first
 * sentence pause ends the utterance, while short turns ("Bonjour. Je pense que…") stay whole.
 * Times are in samples of this track (16 kHz), so the caller maps them onto the meeting's clock.
 *
 * An utterance with less than `minUtteranceSpeechMs` of speech in all (a click, a cough, the burst
 * a track makes when it is torn down) is dropped without a speech-to-text call: no word fits in
 * it, and Whisper answers such snippets with invented text. Pieces that continue a monologue after
 * a hard cut are always kept, however short, so no word of it is lost.
 */

export interface VadWindow {
  /** A copy of the window's 16 kHz mono samples (never a view into the VAD's buffers). */
  samples: Int16Array;
  /** Smoothed speech probability of the window, 0..1. */
  probability: number;
}

/**
 * Why an utterance ended: Silero's end of speech (`pause`), a shorter pause in an utterance past
 * half / 80 % of the maximum (`long_pause` / `short_pause`, sentence pauses off), a sentence pause
 * in an utterance past `sentenceAfterMs` (`sentence_pause`, sentence pauses on), the maximum
 * length, or the end of the track.
 */
export type CutReason = 'pause' | 'long_pause' | 'short_pause' | 'sentence_pause' | 'max_length' | 'flush';

/**
 * Speech (ms) after which a sentence pause ends an utterance when sentence pauses are on: espeak-ng
 * sentences at 145-180 words per minute last 3.7-7 s (issue #15, `utterance-cuts.test.ts`).
 */
export const SENTENCE_AFTER_MS = 3_500;

export interface CutUtterance {
  /** Track sample where speech was detected to start / to end (without padding). */
  speechStartSample: number;
  speechEndSample: number;
  /** Track sample of audio[0] (speech start minus pre-roll). */
  audioStartSample: number;
  /** Speech with a short pre-roll and the silence that closed it. */
  audio: Int16Array;
  reason: CutReason;
}

/** The utterance being spoken, before it is cut (for interim captions): track samples (16 kHz). */
export interface UtteranceInProgress {
  speechStartSample: number;
  /** Track sample of its audio's first sample (speech start minus pre-roll). */
  audioStartSample: number;
  /** Samples of windows above the threshold so far. */
  speechSamples: number;
  /** Samples of the pause now going on (0 while the last window was speech). */
  pauseSamples: number;
  /** Samples of this track seen so far (end of the last window). */
  position: number;
}

export interface SegmenterOptions {
  sampleRate?: number;
  activationThreshold?: number;
  /** Speech must last this long before an utterance starts (Silero's default: 50 ms). */
  minSpeechMs?: number;
  /** Silence that ends an utterance (Silero's default: 550 ms). */
  minSilenceMs?: number;
  /** Audio kept before the detected start, so the recogniser hears the onset. */
  prerollMs?: number;
  maxUtteranceMs: number;
  /**
   * Speech (ms from the utterance's start) after which a sentence pause ends it; unset or Infinity
   * (the default): sentence pauses off, only `longPauseMs` / `shortPauseMs` from half / 80 % of the
   * maximum. `SENTENCE_AFTER_MS` (3500) turns them on.
   */
  sentenceAfterMs?: number;
  /** Pause that ends an utterance at `sentenceAfterMs` (default 180 ms: six Silero windows). */
  sentencePauseMs?: number;
  /** Pause that ends it at half `maxUtteranceMs` (default 160 ms). */
  longPauseMs?: number;
  /** Pause that ends it at 80 % of `maxUtteranceMs` (default 64 ms: two windows). */
  shortPauseMs?: number;
  /** Utterances with less speech than this in all are dropped (default 160 ms: five Silero windows). */
  minUtteranceSpeechMs?: number;
}

export class UtteranceSegmenter {
  readonly #sr: number;
  readonly #threshold: number;
  readonly #minSpeech: number;
  readonly #minSilence: number;
  readonly #preroll: number;
  readonly #max: number;
  /**
   * (utterance length, pause that ends it) points, samples, by increasing length; with sentence
   * pauses on, the pause is interpolated between points, off it steps at each point.
   */
  readonly #pauseSchedule: readonly (readonly [number, number])[];
  readonly #sentencePauses: boolean;
  readonly #minUtteranceSpeech: number;

  /** Samples seen so far on this track (end of the last window). */
  #pos = 0;
  #speaking = false;
  /**
   * Where the probability last rose above the onset floor (threshold - 0.15, Silero's own negative
   * threshold) while not speaking: a word's first window often scores below the threshold, so the
   * detected start is moved back to the rise.
   */
  #riseStart: number | null = null;
  /** Recent windows while not speaking (pre-roll), or the utterance's windows while speaking. */
  #chunks: { start: number; samples: Int16Array }[] = [];
  #speechRun = 0;
  #silenceRun = 0;
  #speechStart = 0;
  /** Samples of windows above the threshold in the current utterance. */
  #speechSamples = 0;
  /** The current utterance continues one cut at the maximum length. */
  #continued = false;
  #dropped = 0;

  constructor(
    options: SegmenterOptions,
    private readonly onUtterance: (u: CutUtterance) => void,
  ) {
    this.#sr = options.sampleRate ?? 16_000;
    const ms = (v: number) => Math.round((v * this.#sr) / 1000);
    this.#threshold = options.activationThreshold ?? 0.5;
    this.#minSpeech = ms(options.minSpeechMs ?? 50);
    this.#minSilence = ms(options.minSilenceMs ?? 550);
    this.#preroll = ms(options.prerollMs ?? 300);
    this.#max = ms(options.maxUtteranceMs);
    const sentenceAfterMs = options.sentenceAfterMs ?? Infinity;
    this.#sentencePauses = Number.isFinite(sentenceAfterMs);
    const long: [number, number] = [this.#max * 0.5, ms(options.longPauseMs ?? 160)];
    const short: [number, number] = [this.#max * 0.8, ms(options.shortPauseMs ?? 64)];
    this.#pauseSchedule = this.#sentencePauses
      ? [[Math.min(ms(sentenceAfterMs), this.#max * 0.5), ms(options.sentencePauseMs ?? 180)], long, short]
      : [long, short];
    this.#minUtteranceSpeech = ms(options.minUtteranceSpeechMs ?? 160);
  }

  /** Utterances dropped as too short to hold a word. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Samples of this track seen so far. */
  get position(): number {
    return this.#pos;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** The utterance in progress, or null between utterances (read it after each `push`). */
  get inProgress(): UtteranceInProgress | null {
    if (!this.#speaking) return null;
    return {
      speechStartSample: this.#speechStart,
      audioStartSample: this.#audioStart(),
      speechSamples: this.#speechSamples,
      pauseSamples: this.#silenceRun,
      position: this.#pos,
    };
  }

  /**
   * A copy of the utterance in progress's audio from track sample `from` (default and at the
   * earliest: its start, pre-roll included) to `to` (at most the position); empty between
   * utterances. The utterance itself goes on unchanged.
   */
  audioSoFar(to: number = this.#pos, from = 0): Int16Array {
    if (!this.#speaking) return new Int16Array(0);
    return concatFrom(this.#chunks, Math.max(from, this.#audioStart()), Math.min(to, this.#pos));
  }

  #audioStart(): number {
    return Math.max(this.#chunks[0]?.start ?? this.#speechStart, this.#speechStart - this.#preroll);
  }

  push(window: VadWindow): void {
    const n = window.samples.length;
    const start = this.#pos;
    this.#pos += n;
    const speech = window.probability > this.#threshold;
    this.#chunks.push({ start, samples: window.samples });

    if (!this.#speaking) {
      if (window.probability > this.#threshold - 0.15) this.#riseStart ??= start;
      else this.#riseStart = null;
      if (speech) {
        this.#speechRun += n;
        if (this.#speechRun >= this.#minSpeech) {
          this.#speaking = true;
          this.#silenceRun = 0;
          this.#speechStart = Math.min(this.#pos - this.#speechRun, this.#riseStart ?? Infinity);
          this.#riseStart = null;
          this.#speechSamples = this.#speechRun;
          this.#continued = false;
        }
      } else {
        this.#speechRun = 0;
      }
      if (!this.#speaking) this.#trimPreroll();
      return;
    }

    if (speech) {
      this.#silenceRun = 0;
      this.#speechSamples += n;
    } else {
      this.#silenceRun += n;
    }

    const speechEnd = this.#pos - this.#silenceRun;
    const length = speechEnd - this.#speechStart;
    if (this.#silenceRun > this.#minSilence) {
      this.#emit(speechEnd, 'pause');
    } else if (this.#pos + n - this.#speechStart > this.#max) {
      // The next window would take it past the maximum.
      this.#emit(speechEnd, 'max_length');
    } else if (this.#silenceRun > 0 && this.#silenceRun >= this.#pauseEnding(length)) {
      this.#emit(speechEnd, this.#sentencePauses ? 'sentence_pause' : length >= this.#max * 0.8 ? 'short_pause' : 'long_pause');
    }
  }

  /** Shortest pause that ends an utterance of `length` samples (Infinity before the schedule starts). */
  #pauseEnding(length: number): number {
    const points = this.#pauseSchedule;
    if (length < points[0]![0]) return Infinity;
    for (let i = 1; i < points.length; i++) {
      const [l1, p1] = points[i]!;
      if (length < l1) {
        const [l0, p0] = points[i - 1]!;
        return this.#sentencePauses ? p0 + ((p1 - p0) * (length - l0)) / (l1 - l0) : p0;
      }
    }
    return points.at(-1)![1];
  }

  /** Ends the current utterance, if any (the track ended or the meeting is stopping). */
  flush(): void {
    if (this.#speaking) this.#emit(this.#pos - this.#silenceRun, 'flush');
  }

  #emit(speechEnd: number, reason: CutReason): void {
    const speechStart = this.#speechStart;
    const audioStart = this.#audioStart();
    const audio = concatFrom(this.#chunks, audioStart, this.#pos);
    this.#chunks = [];
    this.#speechRun = 0;
    this.#silenceRun = 0;
    // A hard cut comes while the speaker is still talking: the next utterance starts right here,
    // so no audio falls between two pieces. Every other cut is in a pause.
    const tooShort = !this.#continued && this.#speechSamples < this.#minUtteranceSpeech;
    this.#speaking = reason === 'max_length';
    this.#continued = reason === 'max_length';
    this.#speechSamples = 0;
    this.#speechStart = this.#pos;
    if (tooShort) {
      this.#dropped++;
      return;
    }
    this.onUtterance({ speechStartSample: speechStart, speechEndSample: speechEnd, audioStartSample: audioStart, audio, reason });
  }

  #trimPreroll(): void {
    const keepFrom = this.#pos - this.#preroll - this.#speechRun;
    while (this.#chunks.length > 1 && (this.#chunks[0]!.start + this.#chunks[0]!.samples.length) <= keepFrom) this.#chunks.shift();
  }
}

function concatFrom(chunks: readonly { start: number; samples: Int16Array }[], from: number, to: number): Int16Array {
  const out = new Int16Array(Math.max(0, to - from));
  for (const c of chunks) {
    const s = Math.max(from, c.start);
    const e = Math.min(to, c.start + c.samples.length);
    if (e > s) out.set(c.samples.subarray(s - c.start, e - c.start), s - from);
  }
  return out;
}
