/**
 * The two providers' transcription answers: cutting a recorded answer down to the window an upload
 * covers, and rendering it in the response_format the client asked for.
 */
import { deflateSync } from 'node:zlib';
import type { MistralTranscription, OpenAiSegment, OpenAiVerboseTranscription } from './cassette.js';

const round2 = (x: number) => Math.round(x * 100) / 100;
const inWindow = (start: number, end: number, from: number, to: number) => {
  const mid = (start + end) / 2;
  return mid >= from && mid < to;
};

/** Segment texts joined the way both APIs build `text`: trimmed pieces separated by one space. */
export function joinText(segments: readonly { text: string }[]): string {
  return segments
    .map((s) => s.text.trim())
    .filter((t) => t.length > 0)
    .join(' ');
}

/** English lower-case language name, as OpenAI's verbose_json reports it ("fr" -> "french"). */
export function languageName(code: string): string {
  try {
    return new Intl.DisplayNames(['en'], { type: 'language' }).of(code)?.toLowerCase() ?? code;
  } catch {
    return code;
  }
}

/** gzip-style compression ratio of a segment's text, computed the way Whisper does (zlib). */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return round2(bytes.length / deflateSync(bytes).length);
}

export interface Window {
  /** Start of the window in the recorded audio's timeline, seconds. */
  fromSec: number;
  /** Duration of the upload, seconds. */
  durationSec: number;
}

/** Keeps the recorded segments whose midpoint lies in the window, shifted to the upload's timeline. */
export function cropOpenAi(recorded: OpenAiVerboseTranscription, w: Window): OpenAiVerboseTranscription {
  const to = w.fromSec + w.durationSec;
  const shift = (t: number) => round2(Math.min(w.durationSec, Math.max(0, t - w.fromSec)));
  const segments: OpenAiSegment[] = recorded.segments
    .filter((s) => inWindow(s.start, s.end, w.fromSec, to))
    .map((s, i) => ({ ...s, id: i, seek: Math.round(shift(s.start) * 100), start: shift(s.start), end: shift(s.end) }));
  const out: OpenAiVerboseTranscription = {
    ...recorded,
    duration: round2(w.durationSec),
    text: joinText(segments),
    segments,
  };
  if (recorded.words) {
    out.words = recorded.words
      .filter((x) => inWindow(x.start, x.end, w.fromSec, to))
      .map((x) => ({ ...x, start: shift(x.start), end: shift(x.end) }));
  }
  return out;
}

export function cropMistral(recorded: MistralTranscription, w: Window): MistralTranscription {
  const to = w.fromSec + w.durationSec;
  const shift = (t: number) => round2(Math.min(w.durationSec, Math.max(0, t - w.fromSec)));
  const segments = recorded.segments
    .filter((s) => inWindow(s.start, s.end, w.fromSec, to))
    .map((s) => ({ ...s, start: shift(s.start), end: shift(s.end) }));
  const text = joinText(segments);
  // Usage follows the window: audio seconds of the upload, output tokens in proportion to the text kept.
  const allChars = joinText(recorded.segments).length;
  const completion = allChars > 0 ? Math.round((recorded.usage.completion_tokens * text.length) / allChars) : 0;
  const prompt = recorded.usage.prompt_tokens;
  return {
    ...recorded,
    text,
    segments,
    usage: {
      ...recorded.usage,
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_audio_seconds: Math.ceil(w.durationSec),
    },
  };
}

export type OpenAiResponseFormat = 'json' | 'verbose_json' | 'text' | 'srt' | 'vtt';

export function renderOpenAi(v: OpenAiVerboseTranscription, format: OpenAiResponseFormat, granularities: readonly string[]): { contentType: string; body: string } {
  switch (format) {
    case 'json':
      return { contentType: 'application/json', body: JSON.stringify({ text: v.text }) };
    case 'text':
      return { contentType: 'text/plain; charset=utf-8', body: `${v.text}\n` };
    case 'srt':
    case 'vtt':
      return { contentType: 'text/plain; charset=utf-8', body: subtitles(v.segments, format) };
    case 'verbose_json': {
      // OpenAI includes segments and words only when asked; no granularity means segments.
      const wantSegments = granularities.length === 0 || granularities.includes('segment');
      const wantWords = granularities.includes('word');
      const { segments, words, ...rest } = v;
      const body: Record<string, unknown> = { ...rest };
      if (wantSegments) body.segments = segments;
      if (wantWords) body.words = words ?? [];
      return { contentType: 'application/json', body: JSON.stringify(body) };
    }
  }
}

function subtitles(segments: readonly OpenAiSegment[], format: 'srt' | 'vtt'): string {
  const stamp = (t: number) => {
    const ms = Math.round(t * 1000);
    const h = String(Math.floor(ms / 3_600_000)).padStart(2, '0');
    const m = String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0');
    const s = String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0');
    const f = String(ms % 1000).padStart(3, '0');
    return `${h}:${m}:${s}${format === 'srt' ? ',' : '.'}${f}`;
  };
  const cues = segments.map((s, i) => `${format === 'srt' ? `${i + 1}\n` : ''}${stamp(s.start)} --> ${stamp(s.end)}\n${s.text.trim()}\n`);
  return format === 'vtt' ? `WEBVTT\n\n${cues.join('\n')}` : cues.join('\n');
}

/** Mistral returns segments only when timestamp_granularities asked for them. */
export function renderMistral(v: MistralTranscription, granularities: readonly string[]): string {
  return JSON.stringify(granularities.length > 0 ? v : { ...v, segments: [] });
}
