/**
 * Who the model means when it names a task's owner, the way people write names: "LEFÈVRE Bruno",
 * "M. Lefèvre", "Lefèvre", "Alice Martin (DSI)", "B. Lefèvre", accents or case changed. A name fits a
 * participant when every word of it is a word of the participant's name (an initial fits a word it
 * starts); it resolves to that participant only when exactly one participant fits and nobody else
 * the transcript names ("Bruno Garnier", not a participant) fits as well. Otherwise: nobody.
 * Someone else named means a first and last name: "Merci Bruno" or "Monsieur Bruno" addresses
 * someone, it names nobody new (a capital at a sentence's start is no sign of a name).
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

/**
 * A run of capitalised words as the transcript gives it: each written word's name words ("Jean-Pierre"
 * → jean, pierre; titles left out), and whether the first opens a sentence, where a capital says
 * nothing of a name ("Merci Bruno"; a word in capitals, "GARNIER Bruno", does not count as opening).
 */
export interface Mention {
  words: string[][];
  opensSentence: boolean;
}

/** Runs of two or more capitalised words in a text ("Bruno Garnier", "Monsieur Bruno Garnier", "Merci Bruno"): the people it may name. */
export function namesMentioned(text: string): Mention[] {
  const out: Mention[] = [];
  for (const m of text.matchAll(/(?<![\p{L}])\p{Lu}[\p{L}'’-]+(?:[ \u00a0]+\p{Lu}[\p{L}'’-]+)+/gu)) {
    const written = m[0].split(/[ \u00a0]+/);
    const words = written.map(nameWords);
    // A surname in capitals ("GARNIER Bruno", as forms write it) is a name wherever it stands; a title is no word at all.
    const first = written[0] ?? '';
    const opensSentence = /(?:^|[\n.!?…])[\s"«»“”()—–-]*$/u.test(text.slice(0, m.index)) && !/^\p{Lu}{3,}$/u.test(first) && (words[0]?.length ?? 0) > 0;
    out.push({ words: words.filter((w) => w.length > 0), opensSentence });
  }
  return out;
}

/**
 * The names in a mention, for a written name, as first-and-last-name pairs in the order written
 * ("Alice Martin Bruno Lefèvre" is two people). A sentence's first word counts only when it is a word
 * of the written name or of a participant's ("Bruno Garnier, du service…" names Bruno Garnier;
 * "Merci Bruno Garnier" too; "Merci Bruno" names only Bruno, and one word alone names nobody new).
 */
function mentionedNames(m: Mention, nameWordsKnown: ReadonlySet<string>): string[][] {
  const words = m.opensSentence && !(m.words[0] ?? []).every((w) => nameWordsKnown.has(w)) ? m.words.slice(1) : m.words;
  const pairs: string[][] = [];
  for (let i = 0; i + 1 < words.length; i += 2) pairs.push(words.slice(i, i + 2).flat());
  return pairs;
}

export class OwnerResolver {
  readonly #people: { person: Person; words: string[]; identity: string }[];
  readonly #mentioned: Mention[];

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
    const known = new Set([...wanted, ...this.#people.flatMap((p) => p.words)]);
    const other = this.#mentioned.some((m) => mentionedNames(m, known).some((named) => fits(wanted, named) && !named.every((w) => only.words.includes(w))));
    return other ? { nobody: 'ambiguous' } : { person: only.person };
  }
}
