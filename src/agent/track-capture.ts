/**
 * One participant's microphone track: its own 16 kHz mono AudioStream, its own speech scorer, its
 * own segmenter. Sample positions are mapped onto the meeting's clock from when the first frame
 * arrived; a gap in delivery (the publisher's network dropped) moves the mapping forward, so later
 * utterances keep their real times.
 *
 * Reading and scoring are two loops joined by a queue: frames are timed as they arrive, even when
 * the VAD is behind (a busy machine), and the queue's length is that backlog.
 */
import { AudioStream, type AudioFrame, type Track } from '@livekit/rtc-node';
import type { ReadableStreamDefaultReader } from 'node:stream/web';
import type { Logger } from '../logging.js';
import { SILERO_SAMPLE_RATE, SILERO_WINDOW_SAMPLES, type SpeechModel, type SpeechScorer } from './silero-vad.js';
import { UtteranceSegmenter, type CutUtterance, type SegmenterOptions, type UtteranceInProgress } from './utterance-segmenter.js';
import { TrackClock } from './track-clock.js';

export const CAPTURE_SAMPLE_RATE = SILERO_SAMPLE_RATE;

/**
 * Frames of 32 ms: one Silero window (512 samples at 16 kHz) each. rtc-node's default of 10 ms
 * means three times as many native callbacks for the same audio. Agent benchmark, 2 rooms,
 * alternating runs: 204-210 s of CPU per speaker-hour with 10 ms frames, 164-179 s with 32 ms;
 * the price is at most 22 ms more before an utterance is cut.
 */
const FRAME_MS = 32;

/** Delivery gaps longer than this re-anchor the track on the meeting clock. */
const GAP_RESYNC_MS = 1_500;

export interface TimedUtterance extends CutUtterance {
  /** Meeting-clock times (ms since the meeting started) of the speech. */
  startMs: number;
  endMs: number;
}

export interface TrackCaptureOptions {
  track: Track;
  vad: SpeechModel;
  segmenter: SegmenterOptions;
  /** Milliseconds since the meeting started, now. */
  meetingClock: () => number;
  logger: Logger;
  onUtterance: (u: TimedUtterance) => void;
  /**
   * After every VAD window (interim captions): the utterance in progress or null, a copy of its audio
   * between two track samples (`UtteranceSegmenter.audioSoFar`), and a track sample on the meeting's clock (ms).
   */
  onProgress?: (inProgress: UtteranceInProgress | null, audio: (to: number, from?: number) => Int16Array, toMeetingMs: (sample: number) => number) => void;
}

export class TrackCapture {
  readonly #opts: TrackCaptureOptions;
  readonly #segmenter: UtteranceSegmenter;
  readonly #audio: AudioStream;
  readonly #reader: ReadableStreamDefaultReader<AudioFrame>;
  readonly #scorer: SpeechScorer;
  readonly #windows = new WindowQueue();
  /** Samples of a frame that did not fill a whole window yet. */
  #partial = new Int16Array(SILERO_WINDOW_SAMPLES);
  #partialLength = 0;
  readonly #clock = new TrackClock(CAPTURE_SAMPLE_RATE, GAP_RESYNC_MS);
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(opts: TrackCaptureOptions) {
    this.#opts = opts;
    this.#segmenter = new UtteranceSegmenter({ sampleRate: CAPTURE_SAMPLE_RATE, ...opts.segmenter }, (cut) => this.#emit(cut));
    this.#audio = new AudioStream(opts.track, { sampleRate: CAPTURE_SAMPLE_RATE, numChannels: 1, frameSizeMs: FRAME_MS });
    this.#reader = this.#audio.getReader();
    this.#scorer = opts.vad.scorer();
    this.#done = Promise.all([this.#pump(), this.#consume()]).then(() => undefined);
  }

  /** Samples received so far (for load figures). */
  get samplesReceived(): number {
    return this.#clock.samples;
  }

  /** Samples the VAD has analysed: behind `samplesReceived` by the VAD's backlog (at most a window, at rest). */
  get samplesAnalysed(): number {
    return this.#segmenter.position;
  }

  /**
   * Stops reading the track, for whatever reason (the speaker left or opted out, the track went
   * away, the meeting ends). What was received until now is still analysed, however far the VAD is
   * behind, and the utterance in progress is cut there and emitted: words spoken before an opt-out
   * were spoken under the notice and are kept; nothing received after it is read.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#reader.cancel().catch(() => undefined);
    await this.#done;
  }

  #emit(cut: CutUtterance): void {
    this.#opts.onUtterance({ ...cut, startMs: Math.round(this.#clock.toMeetingMs(cut.speechStartSample)), endMs: Math.round(this.#clock.toMeetingMs(cut.speechEndSample)) });
  }

  async #pump(): Promise<void> {
    const reader = this.#reader;
    try {
      for (;;) {
        const { done, value: frame } = await reader.read();
        if (done || this.#stopped) break;
        this.#clock.onFrame(this.#opts.meetingClock(), frame.samplesPerChannel);
        this.#cutWindows(frame.data.subarray(0, frame.samplesPerChannel));
      }
    } catch (e) {
      if (!this.#stopped) this.#opts.logger.warn({ err: e }, 'audio stream ended with an error');
    } finally {
      reader.releaseLock();
      this.#windows.end();
    }
  }

  /** Queues the frame's samples as whole windows (copies: the frame's memory is not ours to keep). */
  #cutWindows(samples: Int16Array): void {
    let from = 0;
    while (from < samples.length) {
      const take = Math.min(SILERO_WINDOW_SAMPLES - this.#partialLength, samples.length - from);
      this.#partial.set(samples.subarray(from, from + take), this.#partialLength);
      this.#partialLength += take;
      from += take;
      if (this.#partialLength === SILERO_WINDOW_SAMPLES) {
        this.#windows.push(this.#partial);
        this.#partial = new Int16Array(SILERO_WINDOW_SAMPLES);
        this.#partialLength = 0;
      }
    }
  }

  async #consume(): Promise<void> {
    const progress = this.#opts.onProgress;
    const audio = (to: number, from?: number) => this.#segmenter.audioSoFar(to, from);
    const toMeetingMs = (sample: number) => Math.round(this.#clock.toMeetingMs(sample));
    try {
      for (let window = await this.#windows.next(); window; window = await this.#windows.next()) {
        this.#segmenter.push({ samples: window, probability: await this.#scorer.score(window) });
        progress?.(this.#segmenter.inProgress, audio, toMeetingMs);
      }
    } catch (e) {
      this.#opts.logger.warn({ err: e }, 'VAD failed on a track');
    } finally {
      this.#segmenter.flush();
    }
  }
}

/** Windows waiting for the VAD, in order; `next()` resolves undefined once ended and empty. */
class WindowQueue {
  #items: Int16Array[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  push(window: Int16Array): void {
    this.#items.push(window);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  async next(): Promise<Int16Array | undefined> {
    while (this.#items.length === 0 && !this.#ended) await new Promise<void>((r) => (this.#wake = r));
    return this.#items.shift();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
