/**
 * Interim captions of one microphone (INTERIM_CAPTIONS, issue #15): the words of the utterance in
 * progress, shown before its final caption replaces them (same `lk.segment_id`, `captions.ts`).
 *
 * With a batch endpoint an interim costs a speech-to-text call. Each call sends only what the
 * utterance added since the last interim answered (from its pause, or from the dip between words it
 * ended at), and the caption shows the texts so far joined: the audio sent for interims is at most
 * the audio of the finals (the whole utterance so far each time would cost 1.3-3.6× more seconds on
 * the fixture meeting and the monologue, `interim-cuts.test.ts`). Interims are strictly second to finals:
 * - one interim request in flight per speaker: a request while one is in flight is dropped;
 * - best effort (`SttRequest.bestEffort`): sent only when a slot of STT_CONCURRENCY is free and no
 *   final waits (else dropped, never queued), its slot taken back by the first final that would wait,
 *   one attempt, never retried;
 * - the utterance's cut aborts its interim in flight, and an answer arriving after the cut is
 *   discarded: an interim is never shown after its final;
 * - an interim is never a segment, never spooled, never deferred, never queued, never in the
 *   transcript; logs carry its counts and error codes, never its text.
 * The segment id is reserved (the speaker's next sequence number) with the utterance's first interim
 * and handed to its final at the cut (`cut()`), so both carry the same id.
 */
import type { Logger } from '../logging.js';
import type { InterimPoint } from './interim-policy.js';
import type { LiveSpeechToText } from './utterance-processor.js';

/**
 * An interim that ended at a pause is followed from this far back in that pause (ms), so the next
 * word's onset is whole; one that ended at a dip between words is followed from the dip.
 */
const PAUSE_OVERLAP_MS = 96;

export interface InterimCaptionsOptions {
  stt: LiveSpeechToText;
  language: string;
  prompt?: string;
  sampleRate: number;
  /** Reserves the segment id of the utterance in progress (the speaker's next sequence number). */
  reserve: () => Promise<{ sequence: number; segmentId: string }>;
  /** Publishes an interim caption (`lk.transcription_final=false`). */
  send: (segmentId: string, text: string) => Promise<void>;
  logger: Logger;
  /** Each interim caption published, with its request time (performance.now()) and its audio's end (track sample): benchmarks. */
  onShown?: (interim: { segmentId: string; requestedAt: number; endSample: number }) => void;
}

/** Counts for the operator and the benchmarks (no text). */
export interface InterimStats {
  /** Speech-to-text calls sent for interims, and the seconds of audio they carried. */
  calls: number;
  seconds: number;
  /** Interim captions published. */
  shown: number;
  /** Requests dropped: one already in flight for this speaker / no free slot (`busy`). */
  droppedInFlight: number;
  droppedBusy: number;
  /** Calls aborted or answered after their utterance was cut (by its final or a final's need of the slot). */
  stale: number;
  failed: number;
}

/** What the final of a cut utterance takes over from its interims. */
export interface InterimHandover {
  /** The reserved sequence number and segment id, if an interim reserved them. */
  reserved: Promise<{ sequence: number; segmentId: string }> | null;
  /** Resolves once no interim caption of the utterance is being published: true when one was shown. */
  shown: Promise<boolean>;
}

export class InterimCaptions {
  readonly #o: InterimCaptionsOptions;
  readonly #stats: InterimStats = { calls: 0, seconds: 0, shown: 0, droppedInFlight: 0, droppedBusy: 0, stale: 0, failed: 0 };
  /** Bumped at every cut: an answer for an older utterance is discarded. */
  #generation = 0;
  #reserved: Promise<{ sequence: number; segmentId: string }> | null = null;
  #inFlight: AbortController | null = null;
  /** The utterance's interim captions published one after the other; resolves true once one was shown. */
  #publishing: Promise<boolean> = Promise.resolve(false);
  /** The utterance's recognised text so far, and the track sample the next interim's audio starts at (null: the utterance's start). */
  #text = '';
  #from: number | null = null;

  constructor(options: InterimCaptionsOptions) {
    this.#o = options;
  }

  get stats(): Readonly<InterimStats> {
    return this.#stats;
  }

  /**
   * Asks for an interim up to `point`: `audio(to, from)` copies the utterance's audio between two
   * track samples (from its start when `from` is omitted), as `UtteranceSegmenter.audioSoFar`.
   */
  request(point: InterimPoint, audio: (to: number, from?: number) => Int16Array): void {
    if (this.#inFlight) {
      this.#stats.droppedInFlight++;
      return;
    }
    const generation = this.#generation;
    const abort = new AbortController();
    this.#inFlight = abort;
    this.#reserved ??= this.#o.reserve();
    const reserved = this.#reserved;
    const requestedAt = performance.now();
    const samples = this.#from === null ? audio(point.endSample) : audio(point.endSample, this.#from);
    const next = point.reason === 'pause' ? point.endSample - Math.round((PAUSE_OVERLAP_MS * this.#o.sampleRate) / 1000) : point.endSample;
    void this.#transcribe(samples, abort.signal)
      .then(async (text) => {
        if (text === null) return;
        if (generation !== this.#generation) {
          this.#stats.stale++;
          return;
        }
        this.#from = next;
        if (!text) return;
        this.#text = this.#text ? `${this.#text} ${text}` : text;
        const shown = this.#text;
        const { segmentId } = await reserved;
        if (generation !== this.#generation) return;
        this.#publish(segmentId, shown, generation, () => this.#o.onShown?.({ segmentId, requestedAt, endSample: point.endSample }));
      })
      .catch((e: unknown) => this.#o.logger.warn({ err: e }, 'interim caption failed'))
      .finally(() => {
        if (this.#inFlight === abort) this.#inFlight = null;
      });
  }

  /**
   * The utterance was cut (synchronously from the segmenter): its interim in flight is aborted, later
   * answers are discarded, and the final takes over the reserved id and waits for a caption being published.
   */
  cut(): InterimHandover {
    this.#generation++;
    this.#inFlight?.abort(new Error('utterance cut: its final replaces the interim'));
    this.#inFlight = null;
    const handover = { reserved: this.#reserved, shown: this.#publishing };
    this.#reserved = null;
    this.#publishing = Promise.resolve(false);
    this.#text = '';
    this.#from = null;
    return handover;
  }

  /** The recognised text (trimmed), or null when the request was not answered. */
  async #transcribe(audio: Int16Array, signal: AbortSignal): Promise<string | null> {
    try {
      const result = await this.#o.stt.transcribe({
        audio: { samples: audio, sampleRate: this.#o.sampleRate, channels: 1 },
        language: this.#o.language,
        ...(this.#o.prompt ? { prompt: this.#o.prompt } : {}),
        signal,
        bestEffort: true,
      });
      this.#count(audio);
      return result.text.trim();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'busy') this.#stats.droppedBusy++;
      else {
        this.#count(audio);
        if (code === 'aborted' || signal.aborted) this.#stats.stale++;
        else {
          this.#stats.failed++;
          this.#o.logger.debug({ code }, 'interim speech-to-text failed; not retried');
        }
      }
      return null;
    }
  }

  #count(audio: Int16Array): void {
    this.#stats.calls++;
    this.#stats.seconds += audio.length / this.#o.sampleRate;
  }

  #publish(segmentId: string, text: string, generation: number, shown: () => void): void {
    this.#publishing = this.#publishing.then(async (before) => {
      // Published in order; one made stale meanwhile (the cut came) is not sent.
      if (generation !== this.#generation) return before;
      try {
        await this.#o.send(segmentId, text);
        this.#stats.shown++;
        shown();
        return true;
      } catch (e) {
        this.#o.logger.warn({ err: e }, 'interim caption not sent');
        return before;
      }
    });
  }
}
