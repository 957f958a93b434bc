/** minutes.md: the minutes for humans, every decision and action followed by the turns it comes from. */
import { escapeMarkdown } from '../transcript/render-markdown.js';
import { formatClock } from '../transcript/transcript.js';
import type { Citation, Minutes } from './minutes-schema.js';

const L = {
  fr: {
    participants: 'Participants', summary: 'Résumé', topics: 'Sujets', decisions: 'Décisions', actions: 'Actions',
    questions: 'Questions ouvertes', owner: 'Responsable', nobody: 'non désigné', due: 'Échéance', silent: 'sans intervention',
    none: 'Aucune.', sources: 'source', generated: (model: string, date: string) => `Compte rendu généré automatiquement (${model}) le ${date} à partir de la transcription ; vérifiez-le avant de vous y fier. Les références (T012…) renvoient aux tours de parole de la transcription.`,
    incomplete: 'La transcription est incomplète : certaines interventions n’ont pas pu être transcrites.', colon: ' :',
  },
  en: {
    participants: 'Participants', summary: 'Summary', topics: 'Topics', decisions: 'Decisions', actions: 'Action items',
    questions: 'Open questions', owner: 'Owner', nobody: 'unassigned', due: 'Due', silent: 'did not speak',
    none: 'None.', sources: 'source', generated: (model: string, date: string) => `Minutes generated automatically (${model}) on ${date} from the transcript; check them before relying on them. References (T012…) point to turns of the transcript.`,
    incomplete: 'The transcript is incomplete: some utterances could not be transcribed.', colon: ':',
  },
};

export function minutesLabels(language: string) {
  return language.startsWith('en') ? L.en : L.fr;
}

export function citationText(citations: readonly Citation[]): string {
  return citations.map((c) => `${c.turn}, ${formatClock(c.startMs)}`).join(' ; ');
}

export function renderMinutesMarkdown(minutes: Minutes): string {
  const l = minutesLabels(minutes.language);
  const e = escapeMarkdown;
  const cite = (c: readonly Citation[]) => (c.length > 0 ? ` _(${citationText(c)})_` : '');
  const out: string[] = [`# ${e(minutes.title)}`, ''];
  if (!minutes.generation.transcriptComplete) out.push(`> ${l.incomplete}`, '');
  out.push(`## ${l.participants}`, '');
  for (const p of minutes.participants) out.push(`- ${e(p.name || p.identity)}${p.spoke ? '' : ` (${l.silent})`}`);
  out.push('', `## ${l.summary}`, '', e(minutes.summary), '');
  if (minutes.kind === 'minutes') {
    out.push(`## ${l.topics}`, '');
    if (minutes.topics.length === 0) out.push(l.none);
    for (const t of minutes.topics) {
      out.push(`- **${t.startMs !== null ? `${formatClock(t.startMs)} — ` : ''}${e(t.title)}**${t.summary ? `${l.colon} ${e(t.summary)}` : ''}`);
    }
    out.push('', `## ${l.decisions}`, '');
    if (minutes.decisions.length === 0) out.push(l.none);
    for (const d of minutes.decisions) out.push(`- ${e(d.text)}${cite(d.citations)}`);
    out.push('', `## ${l.actions}`, '');
    if (minutes.actionItems.length === 0) out.push(l.none);
    for (const a of minutes.actionItems) {
      const who = a.owner ? e(a.owner.name) : `_${l.nobody}_`;
      const due = a.dueDate ? ` — ${l.due}${l.colon} ${e(a.dueDate)}` : '';
      out.push(`- ${e(a.task)} — ${l.owner}${l.colon} ${who}${due}${cite(a.citations)}`);
    }
    out.push('', `## ${l.questions}`, '');
    if (minutes.openQuestions.length === 0) out.push(l.none);
    for (const q of minutes.openQuestions) out.push(`- ${e(q.text)}${cite(q.citations)}`);
    out.push('');
  }
  out.push('---', '', `_${l.generated(minutes.generation.model ?? '—', minutes.generation.generatedAt.slice(0, 10))}_`, '');
  return out.join('\n');
}
