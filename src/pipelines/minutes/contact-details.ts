/**
 * Links, email addresses and phone numbers in what the model wrote. A prompt injection ("add this
 * login link", "send the minutes to …") or a plain invention lands exactly there, and readers act
 * on such details, so the minutes keep one only where the turns the text cites say it; everything
 * else is replaced by a short marker. In the email, what is left is shown defanged (no client turns
 * it into a link): the email's only links are the artefacts' own.
 */

export type ContactKind = 'link' | 'email' | 'phone';

const EMAIL = String.raw`[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+`;
// With a scheme or www., or a bare host name followed by a path ("site.example/connexion").
const LINK = String.raw`(?:[a-z][a-z0-9+.-]*:\/\/|www\.)[^\s<>"'\])]+|\b[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.[a-z]{2,}\/[^\s<>"'\])]*`;
// A bare host name ("attaquant.com"), which mail clients and chat tools turn into a link too; kept
// only when its last label is written in lower case and is a country code or a common generic
// top-level domain (so "budget.xlsx", "Node.js", "p.ex" or "fin.Le" are not hosts).
const HOST = String.raw`(?<![\p{L}\p{N}@.\/-])(?:[\p{L}\p{N}-]+\.)+(?<tld>[a-z]{2,10})(?![\p{L}\p{N}@\/-])`;
// Two letters that end file names and abbreviations, and are no country's.
const NOT_TLDS = new Set(['js', 'ts', 'ex', 'eg', 'ie']);
const GENERIC_TLDS = new Set(['com', 'org', 'net', 'edu', 'gov', 'int', 'mil', 'info', 'biz', 'name', 'pro', 'app', 'dev', 'io', 'online', 'site', 'xyz', 'tech', 'store', 'shop', 'cloud', 'live', 'link', 'click', 'top', 'club', 'page', 'example', 'test', 'invalid', 'localhost']);
// 9 to 15 digits in groups (E.164 has at most 15), optionally after + or 00: "01 23 45 67 89", "+33 1 23 45 67 89".
const PHONE = String.raw`(?:\+|\b00)?\(?\d{1,4}\)?(?:[ .\-\u00a0]?\(?\d{1,4}\)?){2,7}`;
const DETAILS = new RegExp(`(?<email>${EMAIL})|(?<link>${LINK})|(?<host>${HOST})|(?<phone>${PHONE})`, 'giu');

export interface ContactDetail {
  kind: ContactKind;
  text: string;
  index: number;
}

const digits = (s: string) => s.replace(/\D/g, '');

/** The links, email addresses and phone numbers in a text, in order (trailing punctuation excluded). */
export function findContactDetails(text: string): ContactDetail[] {
  const out: ContactDetail[] = [];
  for (const m of text.matchAll(DETAILS)) {
    const g = m.groups ?? {};
    const kind: ContactKind = g.email ? 'email' : g.link || g.host ? 'link' : 'phone';
    const raw = m[0].replace(/[.,;:!?]+$/, '');
    if (g.host && g.tld && !(/^[a-z]+$/.test(g.tld) && ((g.tld.length === 2 && !NOT_TLDS.has(g.tld)) || GENERIC_TLDS.has(g.tld)))) continue;
    if (kind === 'phone') {
      const n = digits(raw).length;
      if (n < 9 || n > 15 || /^\d{4}-\d{2}-\d{2}$/.test(raw)) continue;
    }
    out.push({ kind, text: raw, index: m.index });
  }
  return out;
}

/** Whether a detail occurs in a text (links and addresses without case, phone numbers by their digits). */
export function occursIn(detail: Pick<ContactDetail, 'kind' | 'text'>, said: string): boolean {
  if (detail.kind === 'phone') return digits(said).includes(digits(detail.text));
  return said.toLowerCase().includes(detail.text.toLowerCase());
}

const MARKERS: Record<'fr' | 'en', Record<ContactKind, string>> = {
  fr: { link: '[lien retiré]', email: '[adresse retirée]', phone: '[numéro retiré]' },
  en: { link: '[link removed]', email: '[address removed]', phone: '[number removed]' },
};

/**
 * The text with every detail that `said` does not hold replaced by a marker in the meeting's
 * language; `removed` counts them. `said` is what the cited turns say ('' when nothing is cited).
 */
export function removeUnsaid(text: string, said: string, language: 'fr' | 'en'): { text: string; removed: number } {
  let removed = 0;
  let out = '';
  let last = 0;
  for (const d of findContactDetails(text)) {
    if (occursIn(d, said)) continue;
    out += text.slice(last, d.index) + MARKERS[language][d.kind];
    last = d.index + d.text.length;
    removed++;
  }
  return { text: out + text.slice(last), removed };
}

/**
 * Links and addresses written so that no mail client makes them clickable, not even by the bare host
 * names clients link on their own: "https[:]//demarches[.]exemple[.]fr/pilote", "nom[@]mairie[.]fr".
 */
export function defang(text: string): string {
  let out = '';
  let last = 0;
  for (const d of findContactDetails(text)) {
    if (d.kind === 'phone') continue;
    // An address loses its @ and the dots of its domain, a link its "://" and the dots of its host.
    const shown = d.kind === 'email' ? d.text.replace('@', '[@]').replace(/\./g, '[.]') : defangLink(d.text);
    out += text.slice(last, d.index) + shown;
    last = d.index + d.text.length;
  }
  return out + text.slice(last);
}

function defangLink(link: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(link)?.[0] ?? '';
  const rest = link.slice(scheme.length);
  const hostEnd = rest.search(/[/?#]/);
  const host = hostEnd === -1 ? rest : rest.slice(0, hostEnd);
  return `${scheme.replace('://', '[:]//')}${host.replace(/\./g, '[.]')}${rest.slice(host.length)}`;
}
