/**
 * Checks the model's draft against the transcript it came from: citations must name real turns
 * (others are dropped, never shown), owners must be participants (others become null), a due date
 * is kept only when the cited turns actually say it. Nothing the model writes can reach a field
 * outside the minutes text (no recipients, no participants list, no meeting id).
 */
import type { Transcript, Turn } from '../transcript/transcript.js';
import type { Citation, Minutes, MinutesDraft } from './minutes-schema.js';

export interface ResolveStats {
  droppedCitations: number;
  droppedOwners: number;
}

type Resolved = Pick<Minutes, 'title' | 'summary' | 'topics' | 'decisions' | 'actionItems' | 'openQuestions'>;

/** Lower case, no accents, letters and digits only: for comparing names and words. */
export function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

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
  readonly stats: ResolveStats = { droppedCitations: 0, droppedOwners: 0 };

  constructor(private readonly transcript: Transcript) {
    for (const t of transcript.turns) this.#turns.set(t.id, t);
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
    const wanted = fold(raw);
    const people = this.transcript.participants;
    const exact = people.find((p) => fold(p.name) === wanted || fold(p.identity) === wanted);
    if (exact) return { identity: exact.identity, name: exact.name };
    // "Bruno" for "Bruno Lefèvre", only when it names one participant.
    const byFirst = people.filter((p) => fold(p.name).split(' ')[0] === wanted);
    if (byFirst.length === 1 && byFirst[0]) return { identity: byFirst[0].identity, name: byFirst[0].name };
    this.stats.droppedOwners++;
    return null;
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
    return {
      title: clean(draft.title),
      summary: draft.summary.trim(),
      topics: draft.topics
        .filter((t) => clean(t.title) !== '')
        .map((t) => ({ title: clean(t.title), summary: t.summary.trim(), ...this.startOf(t.startTurn) })),
      decisions: draft.decisions.filter((d) => clean(d.text) !== '').map((d) => ({ text: clean(d.text), citations: this.citations(d.turns) })),
      actionItems: draft.actionItems
        .filter((a) => clean(a.task) !== '')
        .map((a) => {
          const citations = this.citations(a.turns);
          return { task: clean(a.task), owner: this.owner(a.owner), dueDate: this.dueDate(a.dueDate, citations), citations };
        }),
      openQuestions: draft.openQuestions.filter((q) => clean(q.text) !== '').map((q) => ({ text: clean(q.text), citations: this.citations(q.turns) })),
    };
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
