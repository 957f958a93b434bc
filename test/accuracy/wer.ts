/**
 * Word error rate (WER): the word-level Levenshtein distance between a reference and a hypothesis,
 * (substitutions + deletions + insertions) / reference words, after a light normalisation.
 *
 * Our own, small, because no npm package fits: the one published for it (`word-error-rate` 0.0.7,
 * unmaintained since 2024) splits on single spaces without normalising punctuation, has a wrong base
 * case in its dynamic programme, divides by the longer of the two texts instead of the reference,
 * and gives no alignment, which the per-speaker and overlap counts below need.
 *
 * Normalisation (a small subset of the Whisper paper's English text normaliser, enough for the
 * test meetings): lower case, accents kept, digits-with-% read as words ("10%" → "ten percent"),
 * integers 0–999 spelled out, hyphens and slashes split words, other punctuation dropped
 * (apostrophes inside a word kept: "let's").
 */

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/** 0–999 in English words ("42" → "forty two"); larger numbers are left as digits. */
export function spellNumber(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 999) return String(n);
  if (n < 20) return ONES[n] as string;
  if (n < 100) return `${TENS[Math.floor(n / 10)]}${n % 10 ? ` ${ONES[n % 10]}` : ''}`;
  return `${ONES[Math.floor(n / 100)]} hundred${n % 100 ? ` ${spellNumber(n % 100)}` : ''}`;
}

/** The words of a text as compared: see the module comment for the rules. */
export function normaliseWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[‘’ʼ]/g, "'")
    .replace(/(\d+)\s*%/g, '$1 percent')
    .replace(/\d+/g, (d) => spellNumber(Number(d)))
    .replace(/[-/–—]/g, ' ')
    .replace(/[^\p{L}\p{N}'\s]/gu, ' ')
    .split(/\s+/)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter(Boolean);
}

export type EditOp = 'hit' | 'sub' | 'del' | 'ins';

export interface AlignedPair {
  op: EditOp;
  /** Index in the reference (absent for an insertion). */
  ref?: number;
  /** Index in the hypothesis (absent for a deletion). */
  hyp?: number;
}

/**
 * One minimum-edit alignment of two word lists (Levenshtein, unit costs), in order. On equal costs a
 * hit or substitution is preferred to a deletion, and a deletion to an insertion, so the result is
 * deterministic. O(ref × hyp) time and memory: fine for meetings of a few thousand words.
 */
export function alignWords(ref: readonly string[], hyp: readonly string[]): AlignedPair[] {
  const n = ref.length;
  const m = hyp.length;
  const cols = m + 1;
  const d = new Uint32Array((n + 1) * cols);
  for (let i = 0; i <= n; i++) d[i * cols] = i;
  for (let j = 0; j <= m; j++) d[j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const diag = (d[(i - 1) * cols + j - 1] as number) + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      const del = (d[(i - 1) * cols + j] as number) + 1;
      const ins = (d[i * cols + j - 1] as number) + 1;
      d[i * cols + j] = Math.min(diag, del, ins);
    }
  }
  const out: AlignedPair[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const here = d[i * cols + j] as number;
    if (i > 0 && j > 0 && here === (d[(i - 1) * cols + j - 1] as number) + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      out.push({ op: ref[i - 1] === hyp[j - 1] ? 'hit' : 'sub', ref: i - 1, hyp: j - 1 });
      i--;
      j--;
    } else if (i > 0 && here === (d[(i - 1) * cols + j] as number) + 1) {
      out.push({ op: 'del', ref: i - 1 });
      i--;
    } else {
      out.push({ op: 'ins', hyp: j - 1 });
      j--;
    }
  }
  return out.reverse();
}

export interface WerCounts {
  /** Reference words. */
  words: number;
  hits: number;
  substitutions: number;
  deletions: number;
  insertions: number;
}

export function countOps(pairs: readonly AlignedPair[]): WerCounts {
  const c: WerCounts = { words: 0, hits: 0, substitutions: 0, deletions: 0, insertions: 0 };
  for (const p of pairs) {
    if (p.op === 'hit') c.hits++;
    else if (p.op === 'sub') c.substitutions++;
    else if (p.op === 'del') c.deletions++;
    else c.insertions++;
    if (p.op !== 'ins') c.words++;
  }
  return c;
}

/** (S + D + I) / N; 0 for two empty texts, Infinity for words invented where none were said. */
export function werOf(c: WerCounts): number {
  const errors = c.substitutions + c.deletions + c.insertions;
  if (c.words === 0) return errors === 0 ? 0 : Infinity;
  return errors / c.words;
}

/** WER of a hypothesis text against a reference text, after normalisation. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  return werOf(countOps(alignWords(normaliseWords(reference), normaliseWords(hypothesis))));
}
