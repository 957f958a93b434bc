/**
 * Cuts one recorded track into utterances exactly as the live agent cuts a microphone: the same
 * Silero scorer behind the same silence gate (src/agent/silero-vad.ts), the same segmenter
 * (src/agent/utterance-segmenter.ts: utterances end at pauses, long turns are cut at the maximum,
 * clicks too short to hold a word are dropped). Only speech leaves this module: digital silence,
 * hum and pauses are never part of an utterance, so they are never uploaded.
 *
 * What is kept of an utterance for speech-to-text is its speech plus PAD_MS on each side (the live
 * agent sends 300 ms before and the whole closing pause after; a batch upload has no reason to):
 * the seconds sent stay close to the seconds spoken.
 */
import { decodePcmStream } from '../pipelines/audio/ffmpeg.js';
import { SILERO_SAMPLE_RATE, SILERO_WINDOW_SAMPLES, type SpeechModel } from '../agent/silero-vad.js';
import { UtteranceSegmenter, type CutUtterance } from '../agent/utterance-segmenter.js';
import { checkDecoded } from './recording-input.js';
import type { MediaProbe } from '../pipelines/audio/ffmpeg.js';

/** Audio kept before and after each utterance's detected speech, in ms. */
export const PAD_MS = 200;

export interface RecordedUtterance {
  /** Position of the utterance in its track (0, 1, 2...): its sequence number. */
  index: number;
  /** Detected speech, in ms on the meeting clock (the track's offset added). */
  startMs: number;
  endMs: number;
  /** The audio to send: 16 kHz mono, speech plus PAD_MS each side; `audioStartMs` is its first sample. */
  audio: Int16Array;
  audioStartMs: number;
}

export interface CutTrack {
  utterances: RecordedUtterance[];
  /** Decoded length of the track, in ms. */
  durationMs: number;
  /** Speech detected, in ms (sum of utterances' speech spans). */
  speechMs: number;
}

export interface CutOptions {
  vad: SpeechModel;
  maxUtteranceMs: number;
  /** Where the track starts on the meeting clock, in ms (per-speaker files that start later). */
  offsetMs?: number;
}

const toMs = (samples: number) => (samples * 1000) / SILERO_SAMPLE_RATE;

/**
 * Decodes `file` (any format ffmpeg reads) to 16 kHz mono, scores it window by window and cuts it.
 * Throws an UnusableRecordingError when the file turns out cut short or without samples.
 */
export async function cutTrack(file: string, probe: MediaProbe, options: CutOptions): Promise<CutTrack> {
  const offsetMs = options.offsetMs ?? 0;
  const cuts: CutUtterance[] = [];
  // No sentence pauses: they exist for live captions; a recording has no reader waiting, and longer
  // utterances give the recogniser more context for fewer calls.
  const segmenter = new UtteranceSegmenter({ sampleRate: SILERO_SAMPLE_RATE, maxUtteranceMs: options.maxUtteranceMs, sentenceAfterMs: Infinity }, (u) => cuts.push(u));
  const scorer = options.vad.scorer();
  const warnings: string[] = [];
  let window = new Int16Array(SILERO_WINDOW_SAMPLES);
  let filled = 0;
  let decoded = 0;
  for await (const chunk of decodePcmStream(file, { sampleRate: SILERO_SAMPLE_RATE, channels: 1, warnings })) {
    decoded += chunk.length;
    let from = 0;
    while (from < chunk.length) {
      const take = Math.min(SILERO_WINDOW_SAMPLES - filled, chunk.length - from);
      window.set(chunk.subarray(from, from + take), filled);
      filled += take;
      from += take;
      if (filled === SILERO_WINDOW_SAMPLES) {
        segmenter.push({ samples: window, probability: await scorer.score(window) });
        window = new Int16Array(SILERO_WINDOW_SAMPLES);
        filled = 0;
      }
    }
  }
  segmenter.flush();
  const durationMs = Math.round(toMs(decoded));
  checkDecoded(file, durationMs, warnings, probe);

  const pad = (PAD_MS * SILERO_SAMPLE_RATE) / 1000;
  const utterances = cuts.map((c, index) => {
    const audioEnd = c.audioStartSample + c.audio.length;
    const from = Math.max(c.audioStartSample, c.speechStartSample - pad);
    const to = Math.min(audioEnd, c.speechEndSample + pad);
    return {
      index,
      startMs: Math.round(offsetMs + toMs(c.speechStartSample)),
      endMs: Math.round(offsetMs + toMs(c.speechEndSample)),
      audio: c.audio.slice(from - c.audioStartSample, to - c.audioStartSample),
      audioStartMs: offsetMs + toMs(from),
    };
  });
  return { utterances, durationMs, speechMs: utterances.reduce((n, u) => n + (u.endMs - u.startMs), 0) };
}
