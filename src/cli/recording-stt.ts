/**
 * Speech-to-text for a recording, in batch: nothing live is waiting, so a service that says "come
 * back in 45 s" (429/503 with Retry-After, up to MAX_RETRY_AFTER_MS) is waited out, visibly, and
 * every request pauses meanwhile (the limit is the account's, not one request's). A piece the
 * service finds too large (413, or bigger than STT_MAX_UPLOAD_MB before it is sent) is split in
 * two and each half sent (a half's speaker labels are its own: see transcribePiece). A piece that
 * fails for good is reported; the others are kept.
 */
import { SttError, type FilteredCount, type SpeechToText, type Transcription } from '../pipelines/stt/types.js';
import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';

/** Retry-After values up to this are waited out (10 minutes); longer ones fail the piece. */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;
/** How many Retry-After waits one piece may go through before it is given up. */
const MAX_WAITS_PER_PIECE = 20;
/** A piece is not split below this (16 kHz samples: 1 s); a provider refusing 1 s is misconfigured. */
const MIN_SPLIT_SAMPLES = 16_000;

/** Contiguous audio of the recording: 16 kHz mono samples starting at `startMs` on the meeting clock. */
export interface AudioChunk {
  audio: Int16Array;
  startMs: number;
}

/** What the service recognised, on the meeting clock. */
export interface TimedText {
  startMs: number;
  endMs: number;
  text: string;
  speaker: string | null;
}

export interface PieceResult {
  segments: TimedText[];
  /** Of the (first) answer: provider, model, language, confidence. */
  provider: string;
  model: string;
  language: string;
  confidence: number | null;
  filtered: FilteredCount[];
  /** Audio sent for this piece, in ms (every upload that got an answer). */
  sentMs: number;
  requests: number;
}

export interface WaitNotice {
  /** How long all requests pause, in ms. */
  waitMs: number;
  status: number | undefined;
}

/** Every request waits on it; a Retry-After holds it for everyone. */
export class RetryGate {
  #until = 0;

  constructor(private readonly onHold: (notice: WaitNotice) => void) {}

  async pass(): Promise<void> {
    for (let wait = this.#until - Date.now(); wait > 0; wait = this.#until - Date.now()) await sleep(wait);
  }

  hold(waitMs: number, status: number | undefined): void {
    const until = Date.now() + waitMs;
    if (until <= this.#until) return;
    this.#until = until;
    this.onHold({ waitMs, status });
  }
}

export interface PieceOptions {
  stt: SpeechToText;
  gate: RetryGate;
  language: string;
  prompt?: string;
  diarize: boolean;
}

function concat(chunks: readonly AudioChunk[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.audio.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c.audio, at);
    at += c.audio.length;
  }
  return out;
}

/** Upload time (ms) → meeting clock, through the chunks laid end to end in the upload. */
function toMeetingMs(chunks: readonly AudioChunk[], uploadMs: number): number {
  let base = 0;
  for (const [i, c] of chunks.entries()) {
    const len = (c.audio.length * 1000) / 16_000;
    if (uploadMs < base + len || i === chunks.length - 1) return c.startMs + Math.min(Math.max(0, uploadMs - base), len);
    base += len;
  }
  return 0;
}

function tooLarge(e: unknown): boolean {
  return e instanceof SttError && (e.status === 413 || e.code === 'too_large');
}

/** One request, waited through Retry-After answers (held on the shared gate); throws what cannot be waited out. */
async function request(chunks: readonly AudioChunk[], o: PieceOptions): Promise<Transcription> {
  return pRetry(
    async () => {
      await o.gate.pass();
      return o.stt.transcribe({
        audio: { samples: concat(chunks), sampleRate: 16_000, channels: 1 },
        language: o.language,
        ...(o.prompt ? { prompt: o.prompt } : {}),
        ...(o.diarize ? { diarize: true } : {}),
      });
    },
    {
      retries: MAX_WAITS_PER_PIECE,
      // No backoff of its own: the wait is the service's Retry-After, on the gate every request passes.
      minTimeout: 0,
      shouldRetry: ({ error }) => {
        const wait = error instanceof SttError && error.retryable ? error.retryAfterMs : undefined;
        if (wait === undefined || wait > MAX_RETRY_AFTER_MS) return false;
        o.gate.hold(wait, (error as SttError).status);
        return true;
      },
    },
  );
}

/**
 * Transcribes one piece (chunks of one track, sent as one upload), splitting it on "too large".
 * Times come back on the meeting clock. Speaker labels mean something inside one request only: a
 * split piece's labels get the half they came from as a suffix ("speaker_1.2": the second half's
 * "speaker_1"), so labels of different requests never share a string. Throws the SttError that
 * made the piece fail.
 */
export async function transcribePiece(chunks: readonly AudioChunk[], o: PieceOptions): Promise<PieceResult> {
  try {
    const r = await request(chunks, o);
    return {
      segments: r.segments.map((s) => ({ startMs: Math.round(toMeetingMs(chunks, s.startMs)), endMs: Math.round(toMeetingMs(chunks, s.endMs)), text: s.text, speaker: s.speaker ?? null })),
      provider: r.provider,
      model: r.model,
      language: r.language,
      confidence: r.confidence,
      filtered: r.filtered,
      sentMs: r.durationMs,
      requests: 1,
    };
  } catch (e) {
    if (!tooLarge(e)) throw e;
    const halves = split(chunks);
    if (!halves) throw e;
    const [a, b] = [await transcribePiece(halves[0], o), await transcribePiece(halves[1], o)];
    const filtered = new Map<FilteredCount['reason'], number>();
    for (const f of [...a.filtered, ...b.filtered]) filtered.set(f.reason, (filtered.get(f.reason) ?? 0) + f.count);
    // The halves were two requests: a label of one says nothing about the other's ("speaker_1" in
    // each may be two people), so each half's labels are kept apart (".1", ".2"; nested splits add more).
    const scoped = (r: PieceResult, half: 1 | 2) => r.segments.map((s) => (s.speaker === null ? s : { ...s, speaker: `${s.speaker}.${half}` }));
    return {
      ...a,
      segments: [...scoped(a, 1), ...scoped(b, 2)],
      confidence: a.confidence ?? b.confidence,
      filtered: [...filtered].map(([reason, count]) => ({ reason, count })),
      sentMs: a.sentMs + b.sentMs,
      requests: a.requests + b.requests,
    };
  }
}

/** Two halves: between chunks when there are several, else the one chunk cut in its middle. */
function split(chunks: readonly AudioChunk[]): [AudioChunk[], AudioChunk[]] | null {
  if (chunks.length > 1) {
    const mid = Math.ceil(chunks.length / 2);
    return [chunks.slice(0, mid), chunks.slice(mid)];
  }
  const [c] = chunks;
  if (!c || c.audio.length < 2 * MIN_SPLIT_SAMPLES) return null;
  const mid = Math.floor(c.audio.length / 2);
  return [[{ audio: c.audio.subarray(0, mid), startMs: c.startMs }], [{ audio: c.audio.subarray(mid), startMs: c.startMs + (mid * 1000) / 16_000 }]];
}
