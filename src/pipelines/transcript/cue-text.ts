/** Shared by the WebVTT and SRT renderers: cue timing and text that cannot break the format. */
import type { Transcript } from './transcript.js';

export interface Cue {
  index: number;
  startMs: number;
  endMs: number;
  speaker: string;
  text: string;
}

/** One cue per utterance (segments are at most ~30 s, a readable caption length). */
export function cuesOf(transcript: Transcript): Cue[] {
  const cues: Cue[] = [];
  for (const turn of transcript.turns) {
    for (const s of turn.segments) {
      cues.push({ index: cues.length + 1, startMs: s.startMs, endMs: Math.max(s.endMs, s.startMs + 1), speaker: turn.speaker.name || turn.speaker.identity, text: s.text });
    }
  }
  return cues;
}

export function cueTime(ms: number, separator: '.' | ','): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const milli = total % 1000;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(h)}:${p(m)}:${p(s)}${separator}${p(milli, 3)}`;
}

/** A blank line ends a cue and "-->" starts a timing line: neither may appear inside cue text. */
export function singleLine(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/-->/g, '->').trim();
}
