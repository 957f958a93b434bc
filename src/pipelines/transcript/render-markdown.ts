/** transcript.md: the transcript for humans, one paragraph per turn with its time and turn id. */
import { speakerLabel } from './cue-text.js';
import { formatClock, type Transcript } from './transcript.js';

const LABELS = {
  fr: {
    title: 'Transcription de la réunion',
    meeting: 'Réunion',
    date: 'Date',
    duration: 'Durée',
    participants: 'Participants',
    optedOut: 'a refusé la transcription',
    noSpeech: 'Aucune parole n’a été transcrite pendant cette réunion.',
    incomplete: (n: number) => `Attention : ${n} intervention(s) n’ont pas pu être transcrites à temps et manquent ici.`,
    silent: 'sans intervention',
    turns: (n: number) => `${n} intervention${n > 1 ? 's' : ''}`,
  },
  en: {
    title: 'Meeting transcript',
    meeting: 'Meeting',
    date: 'Date',
    duration: 'Duration',
    participants: 'Participants',
    optedOut: 'declined transcription',
    noSpeech: 'No speech was transcribed during this meeting.',
    incomplete: (n: number) => `Warning: ${n} utterance(s) could not be transcribed in time and are missing here.`,
    silent: 'did not speak',
    turns: (n: number) => `${n} turn${n > 1 ? 's' : ''}`,
  },
};

export function labelsFor(language: string) {
  return language === 'en' ? LABELS.en : LABELS.fr;
}

/**
 * Neutralises Markdown and HTML in spoken text: a transcript line must render as the words said,
 * never as a link, a heading or markup (speech-to-text output is untrusted). The result is one
 * line: a line break in a name or a sentence cannot end a paragraph or start a block.
 */
export function escapeMarkdown(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/^(\s*)([-+#=]|\d+[.)])/, '$1\\$2');
}

export function renderTranscriptMarkdown(transcript: Transcript): string {
  const l = labelsFor(transcript.language);
  const c = transcript.language === 'en' ? ':' : ' :'; // French typography puts a space before the colon
  const out: string[] = [`# ${l.title}`, ''];
  out.push(`- ${l.meeting}${c} \`${transcript.meetingId}\``);
  if (transcript.startedAt) out.push(`- ${l.date}${c} ${transcript.startedAt.slice(0, 16).replace('T', ' ')} UTC`);
  out.push(`- ${l.duration}${c} ${formatClock(transcript.durationMs)}`);
  out.push(`- ${l.participants}${c}`);
  for (const p of transcript.participants) {
    const notes = [p.turns > 0 ? l.turns(p.turns) : l.silent, ...(p.optedOut ? [l.optedOut] : [])];
    out.push(`  - ${escapeMarkdown(speakerLabel(p))} (${notes.join(', ')})`);
  }
  out.push('');
  if (!transcript.completeness.complete) out.push(`> ${l.incomplete(transcript.completeness.missingSegments)}`, '');
  if (transcript.turns.length === 0) out.push(l.noSpeech, '');
  for (const t of transcript.turns) {
    out.push(`**${formatClock(t.startMs)} — ${escapeMarkdown(speakerLabel(t.speaker))}** (${t.id})`, '');
    out.push(escapeMarkdown(t.text), '');
  }
  return out.join('\n');
}
