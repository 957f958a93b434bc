/**
 * Who the model means when it names a task's owner, the way people write names: "LEFÈVRE Bruno",
 * "M. Lefèvre", "Lefèvre", "Alice Martin (DSI)", "B. Lefèvre", accents or case changed. A name fits a
 * participant when every word of it is a word of the participant's name (an initial fits a word it
 * starts); it resolves to that participant only when exactly one participant fits and nobody else
 * the transcript names ("Bruno Garnier", not a participant) fits as well. Otherwise: nobody.
 */
import { fold } from './fold.js';

export interface Person {
  identity: string;
  name: string;
}

export type OwnerMatch = { person: Person } | { nobody: 'not_a_participant' | 'ambiguous' };

// Civilities and titles, folded: "M.", "Mme", "Monsieur", "Dr", "Mr"…
const TITLES = new Set(['m', 'mr', 'mme', 'mlle', 'mrs', 'ms', 'miss', 'monsieur', 'madame', 'mademoiselle', 'dr', 'docteur', 'pr', 'professeur', 'me', 'maitre', 'sir']);

/** The words of a name as written, without titles and parenthesised notes ("Alice Martin (DSI)" → alice, martin). */
export function nameWords(written: string): string[] {
  return fold(written.replace(/\([^)]*\)|\[[^\]]*\]/g, ' '))
    .split(' ')
    .filter((w) => w !== '' && !TITLES.has(w));
}

function fits(wanted: readonly string[], name: readonly string[]): boolean {
  return wanted.length > 0 && wanted.every((w) => name.some((n) => n === w || (w.length === 1 && n.startsWith(w))));
}

/** "Bruno Garnier" style pairs of capitalised words in a text: the people it names. */
export function namesMentioned(text: string): string[][] {
  const out: string[][] = [];
  for (const m of text.matchAll(/(?<![\p{L}])(\p{Lu}[\p{L}'’-]+)[ \u00a0]+(\p{Lu}[\p{L}'’-]+)/gu)) out.push(nameWords(`${m[1]} ${m[2]}`));
  return out;
}

export class OwnerResolver {
  readonly #people: { person: Person; words: string[]; identity: string }[];
  readonly #mentioned: string[][];

  /** `transcriptText`: everything said, where the names of people who are not participants appear. */
  constructor(participants: readonly Person[], transcriptText: string) {
    this.#people = participants.map((p) => ({ person: { identity: p.identity, name: p.name }, words: nameWords(p.name), identity: fold(p.identity) }));
    this.#mentioned = namesMentioned(transcriptText);
  }

  resolve(written: string): OwnerMatch {
    const wanted = nameWords(written);
    if (wanted.length === 0) return { nobody: 'not_a_participant' };
    const byIdentity = this.#people.filter((p) => p.identity === fold(written));
    const candidates = byIdentity.length > 0 ? byIdentity : this.#people.filter((p) => fits(wanted, p.words));
    if (candidates.length === 0) return { nobody: 'not_a_participant' };
    if (candidates.length > 1) return { nobody: 'ambiguous' };
    const [only] = candidates as [(typeof candidates)[number]];
    // Someone the transcript names, who is not this participant, fits the written name too.
    const other = this.#mentioned.some((m) => fits(wanted, m) && !(m.length === only.words.length && m.every((w) => only.words.includes(w))));
    return other ? { nobody: 'ambiguous' } : { person: only.person };
  }
}
