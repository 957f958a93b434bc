/**
 * The summary email, from the stored minutes: HTML and text parts rendered from the templates in
 * templates/email/, in the meeting's language (French unless it is English). Every value coming
 * from the meeting (titles, names, model output) is escaped in the HTML part, and any link or
 * address in it is defanged, so that the email's only links are the artefacts' own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assetRoot, promptLanguage } from '../minutes/prompts.js';
import { defang } from '../minutes/contact-details.js';
import { citationText } from '../minutes/render-minutes-markdown.js';
import type { Minutes } from '../minutes/minutes-schema.js';
import type { ArtefactName, PresignedLink } from '../../storage/meeting-artifacts.js';
import { renderTemplate, type TemplateContext } from './template.js';

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface ComposeInput {
  minutes: Minutes;
  recipientName: string | null;
  /** When the meeting took place (ISO), if known. */
  meetingDate: string | null;
  links: readonly PresignedLink[];
}

const LINK_LABELS: Record<'fr' | 'en', Partial<Record<ArtefactName, string>>> = {
  fr: {
    'minutes.md': 'Compte rendu complet (Markdown)',
    'minutes.json': 'Compte rendu (JSON)',
    'transcript.md': 'Transcription (Markdown)',
    'transcript.vtt': 'Transcription (WebVTT)',
    'transcript.srt': 'Transcription (SRT)',
    'transcript.json': 'Transcription (JSON)',
  },
  en: {
    'minutes.md': 'Full minutes (Markdown)',
    'minutes.json': 'Minutes (JSON)',
    'transcript.md': 'Transcript (Markdown)',
    'transcript.vtt': 'Transcript (WebVTT)',
    'transcript.srt': 'Transcript (SRT)',
    'transcript.json': 'Transcript (JSON)',
  },
};

const templates = new Map<string, string>();
function template(name: string): string {
  let t = templates.get(name);
  if (t === undefined) {
    t = readFileSync(join(assetRoot(), 'templates', 'email', name), 'utf8');
    templates.set(name, t);
  }
  return t;
}

function formatDay(iso: string, lang: 'fr' | 'en'): string {
  return new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'fr-FR', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(iso));
}

function formatDate(iso: string, lang: 'fr' | 'en'): string {
  return `${new Intl.DateTimeFormat(lang === 'en' ? 'en-GB' : 'fr-FR', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(iso))} UTC`;
}

/** One line, no control characters: what a header (the subject) may carry. */
function headerSafe(text: string): string {
  return text.replace(/[\p{Cc}\s]+/gu, ' ').trim().slice(0, 200);
}

export function composeMinutesEmail(input: ComposeInput): ComposedEmail {
  const { minutes } = input;
  const lang = promptLanguage(minutes.language);
  const nobody = lang === 'en' ? 'unassigned' : 'non désigné';
  const expiry = input.links[0]?.expiresAt;
  const d = defang;
  const context: TemplateContext = {
    recipientName: input.recipientName === null ? null : d(input.recipientName),
    title: d(minutes.title),
    meetingDate: input.meetingDate ? formatDay(input.meetingDate, lang) : null,
    incomplete: !minutes.generation.transcriptComplete,
    summary: d(minutes.summary),
    hasDecisions: minutes.decisions.length > 0,
    decisions: minutes.decisions.map((x) => ({ text: d(x.text), refs: citationText(x.citations) })),
    hasActions: minutes.actionItems.length > 0,
    actions: minutes.actionItems.map((a) => ({ task: d(a.task), owner: d(a.owner?.name ?? nobody), due: a.dueDate === null ? null : d(a.dueDate), refs: citationText(a.citations) })),
    hasQuestions: minutes.openQuestions.length > 0,
    questions: minutes.openQuestions.map((q) => ({ text: d(q.text), refs: citationText(q.citations) })),
    hasLinks: input.links.length > 0,
    links: input.links.map((l) => ({ label: LINK_LABELS[lang][l.name] ?? l.name, url: l.url })),
    linksExpireAt: expiry ? formatDate(expiry, lang) : null,
  };
  return {
    subject: headerSafe(renderTemplate(template(`subject.${lang}.txt`), context, 'text')),
    text: renderTemplate(template(`minutes.${lang}.txt`), context, 'text'),
    html: renderTemplate(template(`minutes.${lang}.html`), context, 'html'),
  };
}
