/**
 * Independent readers of the transcript files, as people's tools read them: the W3C's webvtt-parser
 * (full entity table, as the spec wants), srt-parser-2, ffmpeg's SRT and WebVTT decoders (the ASS
 * they produce, read the way libass draws it) and markdown-it in CommonMark mode. None of our own
 * parsing: each returns what a viewer would see.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import MarkdownIt from 'markdown-it';
import SrtParser from 'srt-parser-2';

const require = createRequire(import.meta.url);
const { WebVTTParser } = require('webvtt-parser') as { WebVTTParser: new (entities?: Record<string, string>) => { parse(text: string, mode?: string): VttParse } };
const entities = require('webvtt-parser/html-entities.json') as Record<string, string>;

interface VttNode {
  type: 'object' | 'text' | 'timestamp';
  name?: string;
  value?: string;
  children?: VttNode[];
}
interface VttParse {
  cues: { startTime: number; endTime: number; tree: { children: VttNode[] } }[];
  errors: { message: string; line: number }[];
}

/** One cue as a reader shows it: speaker when the format carries one, text, times in seconds. */
export interface ReadCue {
  speaker: string | null;
  text: string;
  start: number;
  end: number;
}

export function readVtt(vtt: string): { cues: ReadCue[]; errors: string[] } {
  const parsed = new WebVTTParser(entities).parse(vtt, 'metadata');
  const cues = parsed.cues.map((c) => {
    const voices: string[] = [];
    const text = (nodes: VttNode[]): string =>
      nodes
        .map((n) => {
          if (n.type === 'text') return n.value ?? '';
          if (n.name === 'v' && n.value !== undefined) voices.push(n.value);
          return text(n.children ?? []);
        })
        .join('');
    const t = text(c.tree.children);
    if (voices.length !== 1) throw new Error(`a cue should hold exactly one voice span, found ${voices.length}`);
    return { speaker: voices[0] ?? null, text: t, start: c.startTime, end: c.endTime };
  });
  return { cues, errors: parsed.errors.map((e) => `line ${e.line}: ${e.message}`) };
}

/** srt-parser-2's cues; the speaker is the `[Name]` the cue starts with. */
export function readSrt(srt: string): ReadCue[] {
  return new SrtParser().fromSrt(srt).map((c) => {
    const m = /^\[([^\]]*)\] ([\s\S]*)$/.exec(c.text);
    return { speaker: m ? (m[1] ?? '') : null, text: m ? (m[2] ?? '') : c.text, start: c.startSeconds, end: c.endSeconds };
  });
}

const run = promisify(execFile);

/**
 * ffmpeg's decoder for the file's format (`ffmpeg -i file out.ass`), each Dialogue's text as libass
 * draws it: `{...}` override blocks are not drawn, `\N` `\n` are line breaks, `\h` a hard space,
 * `\{` `\}` literal braces. Times are in seconds.
 */
export async function readWithFfmpeg(content: string, ext: 'srt' | 'vtt'): Promise<{ text: string; start: number; end: number; raw: string }[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ffmpeg-read-'));
  try {
    await writeFile(join(dir, `in.${ext}`), content);
    await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', join(dir, `in.${ext}`), join(dir, 'out.ass')]);
    const ass = await readFile(join(dir, 'out.ass'), 'utf8');
    return ass
      .split(/\r?\n/)
      .filter((l) => l.startsWith('Dialogue:'))
      .map((line) => {
        const fields = line.slice('Dialogue:'.length).split(',');
        const raw = fields.slice(9).join(',');
        return { raw, text: libassText(raw), start: assTime(fields[1] ?? ''), end: assTime(fields[2] ?? '') };
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * ffmpeg's own conversion of the file to SRT (`ffmpeg -i transcript.vtt out.srt`, as people convert
 * for players that take only SubRip), read back with srt-parser-2: ffmpeg's reading of the ASS its
 * decoder made (override blocks dropped, styling as tags), a second reader besides libassText.
 */
export async function convertWithFfmpeg(content: string, ext: 'srt' | 'vtt'): Promise<{ text: string; start: number; end: number }[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ffmpeg-convert-'));
  try {
    await writeFile(join(dir, `in.${ext}`), content);
    await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', join(dir, `in.${ext}`), join(dir, 'out.srt')]);
    const cues = new SrtParser().fromSrt(await readFile(join(dir, 'out.srt'), 'utf8'));
    return cues.map((c) => ({ text: c.text, start: c.startSeconds, end: c.endSeconds }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function assTime(t: string): number {
  const [h, m, s] = t.trim().split(':');
  return Number(h) * 3600 + Number(m) * 60 + Number(s);
}

/** What libass draws of an ASS Dialogue text (see ass_render.c: override blocks and escapes). */
export function libassText(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    const next = raw[i + 1];
    if (c === '\\' && (next === 'N' || next === 'n' || next === 'h')) {
      out += ' ';
      i++;
    } else if (c === '\\' && (next === '{' || next === '}')) {
      out += next;
      i++;
    } else if (c === '{') {
      const close = raw.indexOf('}', i);
      if (close === -1) break; // an unclosed block swallows the rest
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/** markdown-it (CommonMark) tokens of a document: blocks with their inline children flattened. */
export function readMarkdown(md: string): { type: string; tag: string; content: string; children: { type: string; content: string }[] }[] {
  const tokens = new MarkdownIt('commonmark').parse(md, {});
  return tokens.map((t) => ({ type: t.type, tag: t.tag, content: t.content, children: (t.children ?? []).map((c) => ({ type: c.type, content: c.content })) }));
}

/** The text a reader shows, comparable with what was said: Unicode NFKC (the look-alikes' originals), no word joiner. */
export function shown(text: string): string {
  return text.normalize('NFKC').replace(/\u2060/g, '');
}

/** The words of texts, as a sorted list (a multiset), after shown(). */
export function wordsOf(texts: readonly string[]): string[] {
  return texts
    .flatMap((t) => shown(t).split(/\s+/))
    .filter((w) => w !== '')
    .sort();
}
