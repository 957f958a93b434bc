/** transcript.vtt: WebVTT with the speaker's name as a voice tag (`<v Alice Martin>`). */
import { cuesOf, cueTime, singleLine } from './cue-text.js';
import type { Transcript } from './transcript.js';

function escapeVtt(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A voice annotation ends at '>' and may not contain a line break. */
function voiceName(name: string): string {
  return singleLine(escapeVtt(name)) || '?';
}

export function renderVtt(transcript: Transcript): string {
  const lines = ['WEBVTT', ''];
  for (const cue of cuesOf(transcript)) {
    lines.push(String(cue.index), `${cueTime(cue.startMs, '.')} --> ${cueTime(cue.endMs, '.')}`);
    lines.push(`<v ${voiceName(cue.speaker)}>${escapeVtt(singleLine(cue.text))}</v>`, '');
  }
  return lines.join('\n');
}
