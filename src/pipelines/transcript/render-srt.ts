/**
 * transcript.srt: SubRip. SRT has no voice tag that players agree on (most show `<v ...>` raw), so
 * the speaker's name leads each cue in brackets, the convention subtitle editors read as a speaker.
 */
import { cuesOf, cueTime, singleLine } from './cue-text.js';
import type { Transcript } from './transcript.js';

export function renderSrt(transcript: Transcript): string {
  const blocks = cuesOf(transcript).map(
    (cue) => `${cue.index}\n${cueTime(cue.startMs, ',')} --> ${cueTime(cue.endMs, ',')}\n[${singleLine(cue.speaker)}] ${singleLine(cue.text)}\n`,
  );
  return blocks.join('\n');
}
