/**
 * transcript.vtt: WebVTT with the speaker's name as a voice span (`<v Alice Martin>…</v>`), which
 * players expose for styling and screen readers. Escaping: see cue-text.ts.
 */
import { cuesOf, cueTime, vttText, vttVoiceName } from './cue-text.js';
import type { Transcript } from './transcript.js';

export function renderVtt(transcript: Transcript): string {
  const lines = ['WEBVTT', ''];
  for (const cue of cuesOf(transcript)) {
    lines.push(String(cue.index), `${cueTime(cue.startMs, '.')} --> ${cueTime(cue.endMs, '.')}`);
    lines.push(`<v ${vttVoiceName(cue.speaker)}>${vttText(cue.text)}</v>`, '');
  }
  return lines.join('\n');
}
