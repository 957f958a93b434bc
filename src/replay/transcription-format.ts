/**
 * The two providers' transcription answers: cutting a recorded answer down to the window an upload
 * covers, and rendering it in the response_format the client asked for.
 */
import { deflateSync } from 'node:zlib';
import type { MistralTranscription, OpenAiSegment, OpenAiVerboseTranscription, TimedWord } from './cassette.js';

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

interface Timed {
  start: number;
  end: number;
  text: string;
}

/**
 * The recorded segments an upload covering window `w` hears, shifted to the upload's timeline
 * (clamped to [0, duration]), with the recorded words it hears.
 *
 * With word timings (`words`, e.g. ground-truth cassettes): a word is heard when its midpoint lies
 * in the window, i.e. most of it; a segment keeps the words heard (its text and times rebuilt from
 * them, its own text kept when all are), so two pieces of a sentence cut at a pause inside it each
 * get their own words. The live segmenter's consecutive pieces never overlap (it drops its buffer at
 * every cut, so the next piece's 300 ms pre-roll lies after it), so each word goes to one piece; a
 * window is placed within one 20 ms fingerprint frame, so a word whose midpoint lies that close to a
 * hard cut (at the maximum length, inside a word) may go to both or neither. A segment with no word
 * inside it, and every segment of an answer without words (recordings), keeps the segment rule:
 * whole when its midpoint lies in the window, else dropped.
 */
function cropTimed<S extends Timed>(segments: readonly S[], words: readonly TimedWord[] | undefined, w: Window, rebuild: (s: S, kept: readonly TimedWord[]) => S): { segments: S[]; words: TimedWord[] } {
  const to = w.fromSec + w.durationSec;
  const shift = (t: number) => round2(Math.min(w.durationSec, Math.max(0, t - w.fromSec)));
  const heard = (x: { start: number; end: number }) => inWindow(x.start, x.end, w.fromSec, to);
  const all = words ?? [];
  // Each word belongs to the segment holding its midpoint.
  const own = segments.map((s) => all.filter((x) => (x.start + x.end) / 2 >= s.start && (x.start + x.end) / 2 < s.end));
  const out: S[] = [];
  for (const [i, s] of segments.entries()) {
    const mine = own[i]!;
    if (mine.length === 0) {
      if (heard(s)) out.push({ ...s, start: shift(s.start), end: shift(s.end) });
      continue;
    }
    const kept = mine.filter(heard);
    if (kept.length === mine.length) out.push({ ...s, start: shift(s.start), end: shift(s.end) });
    else if (kept.length > 0) out.push({ ...rebuild(s, kept), start: shift(kept[0]!.start), end: shift(kept.at(-1)!.end) });
  }
  return { segments: out, words: all.filter(heard).map((x) => ({ ...x, start: shift(x.start), end: shift(x.end) })) };
}

/** The words of a segment heard in part, as its text (one space between words, as `wordTokens` split them). */
const wordsText = (kept: readonly TimedWord[]) => kept.map((x) => x.word.trim()).join(' ');

/** The recorded answer cut to the window (see `cropTimed`). */
export function cropOpenAi(recorded: OpenAiVerboseTranscription, w: Window): OpenAiVerboseTranscription {
  const cropped = cropTimed(recorded.segments, recorded.words, w, (s, kept) => {
    const text = wordsText(kept);
    // Whisper's segment texts start with a space.
    return { ...s, text: ` ${text}`, compression_ratio: compressionRatio(text) };
  });
  const segments: OpenAiSegment[] = cropped.segments.map((s, i) => ({ ...s, id: i, seek: Math.round(s.start * 100) }));
  const out: OpenAiVerboseTranscription = {
    ...recorded,
    duration: round2(w.durationSec),
    text: joinText(segments),
    segments,
  };
  if (recorded.words) out.words = cropped.words;
  return out;
}

/** The recorded answer cut to the window (see `cropTimed`); `words` (replay-only) stays out of the answer. */
export function cropMistral(recorded: MistralTranscription, w: Window): MistralTranscription {
  const { words, ...answer } = recorded;
  const { segments } = cropTimed(answer.segments, words, w, (s, kept) => ({ ...s, text: wordsText(kept) }));
  const text = joinText(segments);
  // Usage follows the window: audio seconds of the upload, output tokens in proportion to the text kept.
  const allChars = joinText(recorded.segments).length;
  const completion = allChars > 0 ? Math.round((recorded.usage.completion_tokens * text.length) / allChars) : 0;
  const prompt = recorded.usage.prompt_tokens;
  return {
    ...answer,
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
  // `words` are the cassette's word timings, not part of Mistral's answer.
  const { words: _words, ...answer } = v;
  return JSON.stringify(granularities.length > 0 ? answer : { ...answer, segments: [] });
}
