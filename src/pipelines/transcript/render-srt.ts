/**
 * transcript.srt: SubRip. SRT has no voice tag that players agree on (most show `<v ...>` raw), so
 * the speaker's name leads each cue in brackets, the convention subtitle editors read as a speaker.
 * Text that decoders would read as markup is replaced by look-alikes (see cue-text.ts).
 */
import { cuesOf, cueTime, srtName, srtText } from './cue-text.js';
import type { Transcript } from './transcript.js';

export function renderSrt(transcript: Transcript): string {
  const blocks = cuesOf(transcript).map(
    (cue) => `${cue.index}\n${cueTime(cue.startMs, ',')} --> ${cueTime(cue.endMs, ',')}\n[${srtName(cue.speaker)}] ${srtText(cue.text)}\n`,
  );
  return blocks.join('\n');
}
