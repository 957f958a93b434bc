/**
 * What happens to one finished utterance: speech-to-text, then a live caption and a queued
 * segment; or, when speech-to-text fails or is too slow, its audio spooled to S3 and a deferred job
 * queued, so nothing said is lost. Every utterance that got a sequence number ends as exactly one
 * segment (possibly with empty text), because the finaliser waits for all of them.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import pRetry from 'p-retry';
import type { Logger } from '../logging.js';
import { encodePcm, type PcmAudio } from '../pipelines/audio/ffmpeg.js';
import type { MeetingQueues } from '../pipelines/queues/producers.js';
import type { TranscriptSegment } from '../meeting/segment.js';
import type { FilteredSpeechSchema, ParticipantRef } from '../meeting/segment.js';
import { putSpooledAudio } from '../storage/meeting-artifacts.js';
import type { z } from 'zod';

/** The part of src/pipelines/stt's SpeechToText the live agent uses. */
export interface LiveSpeechToText {
  readonly provider: string;
  readonly model: string;
  transcribe(request: { audio: PcmAudio; language: string; prompt?: string; signal?: AbortSignal; bestEffort?: boolean }): Promise<{
    text: string;
    language: string;
    confidence: number | null;
    filtered: z.input<typeof FilteredSpeechSchema>[];
    provider: string;
    model: string;
  }>;
}

export interface Utterance {
  participant: ParticipantRef;
  trackSid: string | null;
  sequence: number;
  segmentId: string;
  startMs: number;
  endMs: number;
  startedAt: string;
  /** 16 kHz mono, a copy owned by this utterance. */
  audio: PcmAudio;
  /** performance.now() when the utterance was cut (for the caption-delay measurement). */
  cutAt: number;
  /**
   * With interim captions: resolves once no interim caption of this utterance is being published,
   * true when one was shown (the final caption then follows it, and is sent even with empty text so
   * that the interim does not stay on screen).
   */
  interimShown?: Promise<boolean>;
}

export interface CaptionSink {
  (utterance: Utterance, text: string): Promise<void>;
}

export interface ProcessorOptions {
  meetingId: string;
  language: string;
  prompt?: string;
  stt: LiveSpeechToText;
  queues: Pick<MeetingQueues, 'addSegment' | 'addDeferredStt'>;
  s3: S3Client;
  bucket: string;
  /** S3_PREFIX: the meeting's folder is `${prefix}${meetingId}/`. */
  prefix: string;
  /** RETENTION_DAYS: spooled audio is tagged for the bucket's lifecycle rule like every artefact. */
  retentionDays: number;
  captions: CaptionSink;
  /** A live transcription slower than this is abandoned and the audio spooled instead. */
  liveDeadlineMs: number;
  logger: Logger;
  /** Called after each live caption with the delay beyond the speech-to-text time (benchmarks). */
  onTiming?: (u: Utterance, t: { sttMs: number; captionDelayMs: number; overheadMs: number }) => void;
}


export class UtteranceProcessor {
  readonly #inFlight = new Map<string, { abort: AbortController; done: Promise<void> }>();
  #live = 0;
  #deferred = 0;

  constructor(private readonly opts: ProcessorOptions) {}

  get stats(): { live: number; deferred: number; inFlight: number } {
    return { live: this.#live, deferred: this.#deferred, inFlight: this.#inFlight.size };
  }

  /** Starts processing; never rejects (failures end in the spool). */
  submit(u: Utterance): void {
    const abort = new AbortController();
    const done = this.#process(u, abort)
      .catch(() => undefined) // already logged as lost by #persistently
      .finally(() => this.#inFlight.delete(u.segmentId));
    this.#inFlight.set(u.segmentId, { abort, done });
  }

  /**
   * Waits for every utterance in flight; those still waiting for speech-to-text after `deadlineMs`
   * are abandoned and spooled. Resolves when every utterance is queued one way or the other.
   */
  async drain(deadlineMs: number): Promise<void> {
    const all = () => Promise.all([...this.#inFlight.values()].map((f) => f.done));
    const timer = setTimeout(() => {
      for (const f of this.#inFlight.values()) f.abort.abort(new Error('meeting ending'));
    }, deadlineMs);
    try {
      while (this.#inFlight.size > 0) await all();
    } finally {
      clearTimeout(timer);
    }
  }

  async #process(u: Utterance, abort: AbortController): Promise<void> {
    const { logger } = this.opts;
    const deadline = setTimeout(() => abort.abort(new Error('speech-to-text too slow')), this.opts.liveDeadlineMs);
    const t0 = performance.now();
    let result: Awaited<ReturnType<LiveSpeechToText['transcribe']>> | null = null;
    try {
      result = await this.opts.stt.transcribe({
        audio: u.audio,
        language: this.opts.language,
        ...(this.opts.prompt ? { prompt: this.opts.prompt } : {}),
        signal: abort.signal,
      });
    } catch (e) {
      logger.warn(
        { segmentId: u.segmentId, err: e, aborted: abort.signal.aborted },
        'live speech-to-text failed; spooling the utterance',
      );
    } finally {
      clearTimeout(deadline);
    }
    const sttMs = performance.now() - t0;

    if (result) {
      this.#live++;
      const text = result.text.trim();
      // The final follows any interim of the utterance still being published, and replaces it.
      const interimShown = (await u.interimShown) ?? false;
      if (text || interimShown) {
        try {
          await this.opts.captions(u, text);
          const captionDelayMs = performance.now() - u.cutAt;
          this.opts.onTiming?.(u, { sttMs, captionDelayMs, overheadMs: captionDelayMs - sttMs });
        } catch (e) {
          // A lost caption is a display glitch; the segment below is what counts.
          logger.warn({ segmentId: u.segmentId, err: e }, 'caption not sent');
        }
      }
      const segment: TranscriptSegment = {
        ...this.#identityOf(u),
        text,
        language: result.language || this.opts.language,
        confidence: result.confidence,
        provider: result.provider,
        model: result.model,
        filtered: result.filtered.map((f) => ({ reason: f.reason, count: f.count })),
        deferred: false,
      };
      await this.#persistently(u.segmentId, 'queue segment', () => this.opts.queues.addSegment(segment));
      return;
    }

    this.#deferred++;
    const flac = await this.#persistently(u.segmentId, 'encode audio', () => encodePcm(u.audio, 'flac'));
    const key = await this.#persistently(u.segmentId, 'spool audio', () => putSpooledAudio(this.opts.s3, this.opts, this.opts.meetingId, u.segmentId, flac));
    await this.#persistently(u.segmentId, 'queue deferred speech-to-text', () =>
      this.opts.queues.addDeferredStt({
        ...this.#identityOf(u),
        language: this.opts.language,
        prompt: this.opts.prompt ?? null,
        audioKey: key,
      }),
    );
  }

  /** Retries a storage step (Redis or S3 briefly away) for up to ~2 minutes before giving up loudly. */
  /** What a segment and a deferred job share: which utterance of whom, and when. */
  #identityOf(u: Utterance) {
    return {
      meetingId: this.opts.meetingId,
      segmentId: u.segmentId,
      participant: u.participant,
      sequence: u.sequence,
      trackSid: u.trackSid,
      startMs: u.startMs,
      endMs: u.endMs,
      startedAt: u.startedAt,
    };
  }

  async #persistently<T>(segmentId: string, what: string, step: () => Promise<T>): Promise<T> {
    // 12 attempts, 0.5 s doubling up to 15 s apart: about 2 minutes in all.
    return pRetry(step, {
      retries: 11,
      minTimeout: 500,
      factor: 2,
      maxTimeout: 15_000,
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        if (retryDelay > 0) this.opts.logger.warn({ segmentId, err: error, attempt: attemptNumber }, `${what} failed; retrying`);
        else this.opts.logger.error({ segmentId, err: error, attempt: attemptNumber }, `${what} failed for good: utterance lost`);
      },
    });
  }
}
