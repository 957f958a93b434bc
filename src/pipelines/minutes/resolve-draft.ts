/**
 * Checks the model's draft against the transcript it came from: citations must name real turns
 * (others are dropped, never shown) and a decision, action or question citing none is not
 * published; owners must be participants, resolved as people write names (owner-names.ts), else
 * null; a due date is kept only when the cited turns say it; links, email addresses and phone
 * numbers stay only where the cited turns say them and none of the text's citations was invented
 * (contact-details.ts). Nothing the model writes
 * can reach a field outside the minutes text (no recipients, no participants list, no meeting id).
 */
import type { Transcript, Turn } from '../transcript/transcript.js';
import { removeUnsaid } from './contact-details.js';
import { fold } from './fold.js';
import type { Citation, Minutes, MinutesDraft } from './minutes-schema.js';
import { OwnerResolver } from './owner-names.js';
import { promptLanguage } from './prompts.js';

export interface ResolveStats {
  droppedCitations: number;
  /** Owners named who are no participant. */
  droppedOwners: number;
  /** Owners more than one person could be (two participants, or a participant and someone else named). */
  ambiguousOwners: number;
  /** Decisions, actions and questions not published because none of their citations named a real turn. */
  droppedItems: number;
  /** Links, email addresses and phone numbers removed because the cited turns do not say them. */
  removedContactDetails: number;
}

type Resolved = Pick<Minutes, 'title' | 'summary' | 'topics' | 'decisions' | 'actionItems' | 'openQuestions'>;

/** "T12", "t012", " T012 " → "T012"; anything else → null. */
export function normaliseTurnId(raw: string): string | null {
  const m = /^\s*\[?T(\d{1,6})\]?\s*$/i.exec(raw);
  if (!m?.[1]) return null;
  return `T${String(Number(m[1])).padStart(3, '0')}`;
}

// Words that say nothing about a date, so "le" or "avant" alone cannot vouch for a due date.
const DATE_STOPWORDS = new Set(['le', 'la', 'les', 'de', 'des', 'du', 'au', 'aux', 'avant', 'apres', 'pour', 'the', 'by', 'before', 'after', 'on', 'of', 'd', 'l', 'ici', 'fin']);

export class DraftResolver {
  readonly #turns = new Map<string, Turn>();
  readonly #owners: OwnerResolver;
  readonly #language: 'fr' | 'en';
  readonly stats: ResolveStats = { droppedCitations: 0, droppedOwners: 0, ambiguousOwners: 0, droppedItems: 0, removedContactDetails: 0 };

  constructor(private readonly transcript: Transcript) {
    for (const t of transcript.turns) this.#turns.set(t.id, t);
    this.#owners = new OwnerResolver(transcript.participants, transcript.turns.map((t) => t.text).join('\n'));
    this.#language = promptLanguage(transcript.language);
  }

  citations(raw: readonly string[]): Citation[] {
    const seen = new Set<string>();
    const out: Citation[] = [];
    for (const r of raw) {
      const id = normaliseTurnId(r);
      const turn = id ? this.#turns.get(id) : undefined;
      if (!turn) {
        this.stats.droppedCitations++;
        continue;
      }
      if (seen.has(turn.id)) continue;
      seen.add(turn.id);
      out.push({ turn: turn.id, startMs: turn.startMs, speaker: turn.speaker.name || turn.speaker.identity });
    }
    return out.sort((a, b) => a.startMs - b.startMs);
  }

  owner(raw: string | null): { identity: string; name: string } | null {
    if (raw === null || raw.trim() === '') return null;
    const match = this.#owners.resolve(raw);
    if ('person' in match) return match.person;
    if (match.nobody === 'ambiguous') this.stats.ambiguousOwners++;
    else this.stats.droppedOwners++;
    return null;
  }

  /** What the cited turns say, for checking the details a text gives. */
  #said(citations: readonly Citation[]): string {
    return citations.map((c) => this.#turns.get(c.turn)?.text ?? '').join('\n');
  }

  /** The text without the links, addresses and numbers the cited turns do not say. */
  #checked(text: string, citations: readonly Citation[]): string {
    const { text: clean, removed } = removeUnsaid(text, this.#said(citations), this.#language);
    this.stats.removedContactDetails += removed;
    return clean;
  }

  /**
   * Citations of an item, or null (counted) when it cites no real turn: it is not published. `vouch`
   * is what may vouch for the item's links and numbers: no turn when one of its citations was
   * invented (a forged turn header, an injection), since the model's grounding is then in doubt.
   */
  #itemCitations(raw: readonly string[]): { citations: Citation[]; vouch: Citation[] } | null {
    const before = this.stats.droppedCitations;
    const citations = this.citations(raw);
    if (citations.length === 0) {
      this.stats.droppedItems++;
      return null;
    }
    return { citations, vouch: this.stats.droppedCitations === before ? citations : [] };
  }

  /** Keeps a due date only when a meaningful word or number of it appears in the cited turns. */
  dueDate(raw: string | null, citations: readonly Citation[]): string | null {
    if (raw === null) return null;
    const due = raw.trim();
    if (due === '' || citations.length === 0) return null;
    const said = ` ${citations.map((c) => fold(this.#turns.get(c.turn)?.text ?? '')).join(' ')} `;
    const words = fold(due).split(' ').filter((w) => w !== '' && !DATE_STOPWORDS.has(w) && (w.length >= 3 || /\d/.test(w)));
    return words.some((w) => said.includes(` ${w} `)) ? due : null;
  }

  startOf(rawTurn: string | null): { turn: string | null; startMs: number | null } {
    if (rawTurn === null) return { turn: null, startMs: null };
    const cited = this.citations([rawTurn]);
    const first = cited[0];
    return first ? { turn: first.turn, startMs: first.startMs } : { turn: null, startMs: null };
  }

  resolve(draft: MinutesDraft): Resolved {
    const clean = (s: string) => s.replace(/\s+/g, ' ').trim();
    const out: Resolved = {
      title: this.#checked(clean(draft.title), []),
      summary: this.#checked(draft.summary.trim(), []),
      topics: draft.topics
        .filter((t) => clean(t.title) !== '')
        .map((t) => {
          const start = this.startOf(t.startTurn);
          const cited = start.turn ? this.citations([start.turn]) : [];
          return { title: this.#checked(clean(t.title), cited), summary: this.#checked(t.summary.trim(), cited), ...start };
        }),
      decisions: [],
      actionItems: [],
      openQuestions: [],
    };
    for (const d of draft.decisions.filter((x) => clean(x.text) !== '')) {
      const cited = this.#itemCitations(d.turns);
      if (cited) out.decisions.push({ text: this.#checked(clean(d.text), cited.vouch), citations: cited.citations });
    }
    for (const a of draft.actionItems.filter((x) => clean(x.task) !== '')) {
      const cited = this.#itemCitations(a.turns);
      if (!cited) continue;
      const due = this.dueDate(a.dueDate, cited.citations);
      out.actionItems.push({
        task: this.#checked(clean(a.task), cited.vouch),
        owner: this.owner(a.owner),
        dueDate: due === null ? null : this.#checked(due, cited.vouch),
        citations: cited.citations,
      });
    }
    for (const q of draft.openQuestions.filter((x) => clean(x.text) !== '')) {
      const cited = this.#itemCitations(q.turns);
      if (cited) out.openQuestions.push({ text: this.#checked(clean(q.text), cited.vouch), citations: cited.citations });
    }
    return out;
  }
}

/** A part's draft with its citations checked, as given to the merge call (ids only, no times). */
export function checkedDraft(draft: MinutesDraft, transcript: Transcript): MinutesDraft {
  const r = new DraftResolver(transcript);
  const ids = (raw: readonly string[]) => r.citations(raw).map((c) => c.turn);
  return {
    title: draft.title,
    summary: draft.summary,
    topics: draft.topics.map((t) => ({ ...t, startTurn: r.startOf(t.startTurn).turn })),
    decisions: draft.decisions.map((d) => ({ text: d.text, turns: ids(d.turns) })),
    actionItems: draft.actionItems.map((a) => ({ task: a.task, owner: r.owner(a.owner)?.name ?? null, dueDate: a.dueDate, turns: ids(a.turns) })),
    openQuestions: draft.openQuestions.map((q) => ({ text: q.text, turns: ids(q.turns) })),
  };
}
