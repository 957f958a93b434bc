/**
 * One participant's microphone track: its own 16 kHz mono AudioStream, its own VAD stream, its own
 * segmenter. Sample positions are mapped onto the meeting's clock from when the first frame
 * arrived; a gap in delivery (the publisher's network dropped) moves the mapping forward, so later
 * utterances keep their real times.
 */
import { VADEventType, type VAD } from '@livekit/agents';
import { AudioStream, type AudioFrame, type Track } from '@livekit/rtc-node';
import type { ReadableStreamDefaultReader } from 'node:stream/web';
import type { Logger } from '../logging.js';
import { UtteranceSegmenter, type CutUtterance, type SegmenterOptions } from './utterance-segmenter.js';

export const CAPTURE_SAMPLE_RATE = 16_000;

/**
 * Frames of 32 ms: one Silero window (512 samples at 16 kHz) each. rtc-node's default of 10 ms
 * means three times as many native callbacks and VAD buffer merges for the same audio. Agent
 * benchmark, 2 rooms, alternating runs: 204-210 s of CPU per speaker-hour with 10 ms frames,
 * 164-179 s with 32 ms; the price is at most 22 ms more before an utterance is cut.
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
  vad: VAD;
  segmenter: SegmenterOptions;
  /** Milliseconds since the meeting started, now. */
  meetingClock: () => number;
  logger: Logger;
  onUtterance: (u: TimedUtterance) => void;
}

export class TrackCapture {
  readonly #opts: TrackCaptureOptions;
  readonly #segmenter: UtteranceSegmenter;
  readonly #audio: AudioStream;
  readonly #reader: ReadableStreamDefaultReader<AudioFrame>;
  readonly #vadStream: ReturnType<VAD['stream']>;
  /** (first sample, meeting ms of that sample) anchors, in order. */
  readonly #anchors: { sample: number; ms: number }[] = [];
  #pushed = 0;
  #stopped = false;
  #discard = false;
  readonly #done: Promise<void>;

  constructor(opts: TrackCaptureOptions) {
    this.#opts = opts;
    this.#segmenter = new UtteranceSegmenter({ sampleRate: CAPTURE_SAMPLE_RATE, ...opts.segmenter }, (cut) => this.#emit(cut));
    this.#audio = new AudioStream(opts.track, { sampleRate: CAPTURE_SAMPLE_RATE, numChannels: 1, frameSizeMs: FRAME_MS });
    this.#reader = this.#audio.getReader();
    this.#vadStream = opts.vad.stream();
    this.#done = Promise.all([this.#pump(), this.#consume()]).then(() => undefined);
  }

  /** Samples received so far (for load figures). */
  get samplesReceived(): number {
    return this.#pushed;
  }

  /** Samples the VAD has analysed: behind `samplesReceived` by the VAD's backlog. */
  get samplesAnalysed(): number {
    return this.#segmenter.position;
  }

  /**
   * Stops reading the track. With `flush`, the utterance in progress is emitted (the speaker left,
   * the meeting ends); without, it is dropped (the participant opted out: respect it from now on).
   */
  async stop({ flush }: { flush: boolean }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#discard = !flush;
    await this.#reader.cancel().catch(() => undefined);
    await this.#done;
  }

  #toMeetingMs(sample: number): number {
    let anchor = this.#anchors[0] ?? { sample: 0, ms: 0 };
    for (const a of this.#anchors) {
      if (a.sample > sample) break;
      anchor = a;
    }
    return Math.max(0, anchor.ms + ((sample - anchor.sample) * 1000) / CAPTURE_SAMPLE_RATE);
  }

  #emit(cut: CutUtterance): void {
    if (this.#discard) return;
    this.#opts.onUtterance({ ...cut, startMs: Math.round(this.#toMeetingMs(cut.speechStartSample)), endMs: Math.round(this.#toMeetingMs(cut.speechEndSample)) });
  }

  async #pump(): Promise<void> {
    const reader = this.#reader;
    try {
      for (;;) {
        const { done, value: frame } = await reader.read();
        if (done || this.#stopped) break;
        const frameMs = (frame.samplesPerChannel * 1000) / frame.sampleRate;
        const now = this.#opts.meetingClock();
        const last = this.#anchors.at(-1);
        // The frame was captured about one frame before it arrived.
        if (!last) {
          this.#anchors.push({ sample: 0, ms: now - frameMs });
        } else {
          const expected = last.ms + ((this.#pushed - last.sample) * 1000) / CAPTURE_SAMPLE_RATE;
          if (now - frameMs - expected > GAP_RESYNC_MS) this.#anchors.push({ sample: this.#pushed, ms: now - frameMs });
        }
        this.#pushed += frame.samplesPerChannel;
        this.#vadStream.pushFrame(frame);
      }
    } catch (e) {
      if (!this.#stopped) this.#opts.logger.warn({ err: (e as Error).message }, 'audio stream ended with an error');
    } finally {
      reader.releaseLock();
      // Not endInput(): it rejects unhandled when the stream is closing (see dependency pitfalls).
      this.#vadStream.close();
    }
  }

  async #consume(): Promise<void> {
    try {
      for await (const ev of this.#vadStream) {
        if (ev.type !== VADEventType.INFERENCE_DONE) continue;
        const frame = ev.frames[0];
        if (!frame) continue;
        // Copy now: the VAD reuses the memory behind ev.frames.
        this.#segmenter.push({ samples: frame.data.slice(0, frame.samplesPerChannel), probability: ev.probability });
      }
    } catch (e) {
      if (!this.#stopped) this.#opts.logger.warn({ err: (e as Error).message }, 'VAD stream ended with an error');
    } finally {
      this.#segmenter.flush();
    }
  }
}
