/**
 * Shared by the WebVTT and SRT renderers: cue timing, and text that no reader takes for markup.
 *
 * Speech-to-text output and participant names are untrusted text. What the files must survive is
 * fixed by the readers people use, tried here (test/transcript/readers.test.ts):
 * - ffmpeg's SRT decoder (and the players built on it) reads `<b>`, `<i>`, `<u>`, `<s>`, `<font>`,
 *   drops any other `<tag>`, passes `{...}` through as an ASS override block (hidden by libass,
 *   `{\an8}` moves the cue) and `\N`, `\n`, `\h` as ASS escapes. SRT has no escape mechanism, so in
 *   SRT these characters become their full-width look-alikes (`< > { } \` → `＜ ＞ ｛ ｝ ＼`, and a
 *   speaker name's `[ ]` → `［ ］`): they read the same and Unicode NFKC maps each back to the original.
 * - WebVTT has character references: cue text escapes `&`, `<`, `>` as `&amp;`, `&lt;`, `&gt;`
 *   (so `-->` cannot occur either). A backslash is followed by U+2060 WORD JOINER (invisible, no
 *   break), because ffmpeg copies cue text into ASS where `\N` would break the line. Braces become
 *   the look-alikes `｛ ｝`: ffmpeg's decoder writes them `\{ \}` in ASS, which libass draws, but
 *   ffmpeg's own conversions (`ffmpeg -i transcript.vtt out.srt`) read as an override block and drop
 *   with the words inside (WebVTT's numeric references are not decoded by ffmpeg).
 * - A WebVTT voice annotation (`<v Name>`) ends at the first `>`, and ffmpeg rewrites character
 *   references and braces in it before looking for that `>` (and stops skipping the tag there), so a
 *   name holding `&gt;` or `{` leaks into the rendered text. Names in voice spans therefore carry
 *   the look-alikes `＆ ＞ ｛ ｝` instead of references.
 * - A line break inside a cue is legal but a blank line ends it, and a line holding `-->` starts a
 *   new one in lenient parsers: cue text and names are put on one line (players wrap it).
 */
import type { Transcript } from './transcript.js';

export interface Cue {
  index: number;
  startMs: number;
  endMs: number;
  speaker: string;
  text: string;
}

/** No cue is shown for less than this, whatever it holds. */
export const MIN_CUE_MS = 500;
/**
 * Reading speed a cue's duration must allow: 17 characters per second, the Netflix Timed Text
 * Style Guide's limit for adult programmes (BBC Subtitle Guidelines: 160-180 words per minute).
 */
export const READING_CHARS_PER_SECOND = 17;

/** How long `text` needs on screen to be read: at least MIN_CUE_MS. */
export function readableMs(text: string): number {
  return Math.max(MIN_CUE_MS, Math.ceil(([...text].length * 1000) / READING_CHARS_PER_SECOND));
}

/** The name shown for a speaker: display name, else identity, on one line; '?' when both are blank. */
export function speakerLabel(speaker: { name: string; identity: string }): string {
  return oneLine(speaker.name) || oneLine(speaker.identity) || '?';
}

/**
 * One cue per utterance, in time order, each on screen long enough to be read: a reversed segment
 * is taken between its two times; a cue shorter than MIN_CUE_MS or than its reading time is merged
 * with the same speaker's next cue when that one starts before it could be read (or follows within
 * MERGE_GAP_MS), else lengthened: to its reading time as far as the next cue's start allows (speech
 * faster than reading is not made to lag behind), and to MIN_CUE_MS in any case (it may then overlap
 * the next cue; both formats allow it).
 */
export function cuesOf(transcript: Transcript): Cue[] {
  const raw = transcript.turns.flatMap((turn) =>
    turn.segments.map((s) => ({
      startMs: Math.min(s.startMs, s.endMs),
      endMs: Math.max(s.startMs, s.endMs),
      speaker: speakerLabel(turn.speaker),
      text: oneLine(s.text),
    })),
  );
  raw.sort((a, b) => a.startMs - b.startMs);
  const merged: Omit<Cue, 'index'>[] = [];
  for (const c of raw) {
    if (c.text === '') continue;
    const prev = merged.at(-1);
    if (prev && prev.speaker === c.speaker) {
      const prevTooShort = prev.endMs - prev.startMs < readableMs(prev.text) && c.startMs < prev.startMs + readableMs(prev.text);
      const thisTooShort = c.endMs - c.startMs < readableMs(c.text) && c.startMs - prev.endMs <= MERGE_GAP_MS;
      if (prevTooShort || thisTooShort) {
        prev.text = `${prev.text} ${c.text}`;
        prev.endMs = Math.max(prev.endMs, c.endMs);
        continue;
      }
    }
    merged.push({ ...c });
  }
  return merged.map((c, i) => {
    const next = merged[i + 1]?.startMs ?? Infinity;
    const readEnd = Math.min(c.startMs + readableMs(c.text), Math.max(next, c.endMs));
    return { ...c, index: i + 1, endMs: Math.max(c.endMs, readEnd, c.startMs + MIN_CUE_MS) };
  });
}

/** A short cue is merged into the same speaker's previous one when it follows within this gap. */
const MERGE_GAP_MS = 1000;

export function cueTime(ms: number, separator: '.' | ','): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const milli = total % 1000;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(h)}:${p(m)}:${p(s)}${separator}${p(milli, 3)}`;
}

/** Every run of white space (line breaks included) as one space, trimmed: a cue's text is one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const SRT_LOOK_ALIKES: Record<string, string> = { '<': '＜', '>': '＞', '{': '｛', '}': '｝', '\\': '＼' };

/** SRT cue text: the characters decoders read as markup replaced by their look-alikes (see above). */
export function srtText(text: string): string {
  return oneLine(text).replace(/[<>{}\\]/g, (c) => SRT_LOOK_ALIKES[c] ?? c);
}

/** A speaker's name in SRT's `[Name]` prefix: as srtText, and brackets that would end it early too. */
export function srtName(name: string): string {
  return srtText(name).replace(/\[/g, '［').replace(/\]/g, '］');
}

/** WebVTT cue text: character references for `& < >`, look-alikes for braces, a word joiner after each backslash. */
export function vttText(text: string): string {
  return oneLine(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[{}]/g, (c) => VOICE_LOOK_ALIKES[c] ?? c)
    .replace(/\\/g, '\\\u2060');
}

const VOICE_LOOK_ALIKES: Record<string, string> = { '&': '＆', '>': '＞', '{': '｛', '}': '｝' };

/** A WebVTT voice annotation: no reference or brace (see above), no `>`, one line. */
export function vttVoiceName(name: string): string {
  return oneLine(name)
    .replace(/[&>{}]/g, (c) => VOICE_LOOK_ALIKES[c] ?? c)
    .replace(/\\/g, '\\\u2060');
}
