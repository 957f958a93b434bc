/**
 * Conformance of transcript.vtt, transcript.srt and transcript.md with the readers people use
 * (see readers.ts): for the fixture meeting and for a hostile transcript (the markup-in-text field
 * case as the speech-to-text service hands it over, plus names and sentences of our own), every
 * word said and every speaker's name must come back from each reader, and every cue must stay on
 * screen long enough to be read.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readableMs } from '../../src/pipelines/transcript/cue-text.js';
import { renderTranscriptMarkdown } from '../../src/pipelines/transcript/render-markdown.js';
import { renderSrt } from '../../src/pipelines/transcript/render-srt.js';
import { renderVtt } from '../../src/pipelines/transcript/render-vtt.js';
import { segmentId, type TranscriptSegment } from '../../src/meeting/segment.js';
import { buildTranscript, formatClock, type Transcript } from '../../src/pipelines/transcript/transcript.js';
import { parseOpenAiTranscription } from '../../src/pipelines/stt/openai-compatible.js';
import { assemble } from '../../src/pipelines/stt/service.js';
import { fixtureMeeting, segmentsFor } from '../pipeline/meeting-fixtures.js';
import { convertWithFfmpeg, readMarkdown, readSrt, readVtt, readWithFfmpeg, shown, wordsOf, type ReadCue } from './readers.js';

const meeting = fixtureMeeting();
const fixture = buildTranscript({
  meetingId: 'comite-projet', language: 'fr', startedAt: '2025-12-01T09:00:00.000Z', endedAt: null, participants: meeting.participants, segments: segmentsFor('comite-projet', meeting),
});

function segment(who: { identity: string; name: string }, seq: number, startMs: number, endMs: number, text: string): TranscriptSegment {
  return {
    meetingId: 'hostile', segmentId: segmentId(who.identity, seq), participant: who, sequence: seq, trackSid: null, startMs, endMs,
    startedAt: new Date(Date.parse('2025-12-01T09:00:00.000Z') + startMs).toISOString(), text, language: 'fr', confidence: 0.9,
    provider: 'openai-compatible', model: 'whisper-1', filtered: [], deferred: false,
  };
}

/** The field case: its answer through the service's own parsing and assembly (a 40 s upload). */
function markupInText(): TranscriptSegment[] {
  const { response } = JSON.parse(readFileSync('fixtures/field-cases/markup-in-text/stt.json', 'utf8')) as { response: unknown };
  const t = assemble(parseOpenAiTranscription(JSON.stringify(response)), { language: 'fr' }, 40_000, { provider: 'openai-compatible', model: 'whisper-1' });
  const who = { identity: 'alice', name: 'Alice Martin' };
  return t.segments.map((s, i) => segment(who, i, 100_000 + s.startMs, 100_000 + s.endMs, s.text));
}

const HOSTILE_NAMES = [
  { identity: 'n1', name: 'A < B & C > D' },
  { identity: 'n2', name: '--> Eve' },
  { identity: 'n3', name: 'Mallory </v> <v Alice>' },
  { identity: 'n4', name: '"Jean" O\'Neil' },
  { identity: 'n5', name: 'Ligne\nCassée\r\n' },
  { identity: 'n6', name: '🎤 Zoé 👩🏽‍💻' },
  { identity: 'n7', name: '[Régie] {\\an8} C:\\Noms' },
  { identity: 'n8', name: '**Gras** _x_ # `code` | &amp; <b>' },
  { identity: 'sans-nom', name: '' },
];

const HOSTILE_TEXTS = [
  'On écrit <script>alert(1)</script> & &amp; &lt; puis {\\b1}gras{\\b0} et \\N C:\\Nouveau \\h fin.',
  '1\n00:00:01,000 --> 00:00:02,000\nfaux bloc\n\nWEBVTT\n\nNOTE pas une note',
  '<v Bob>voix</v> <c.red>classe</c> <00:00:01.000> <ruby>a<rt>b</rt></ruby> <font color="red">rouge</font> <3 a<b',
  '# Titre [lien](http://exemple.org) ![img](x.png) > citation - liste 1. un *gras* `code` | table |',
  'Émoji 😀 ✔️ et accents çàéèù œ ŒUVRE ﬁn – — « guillemets »',
];

function hostile(): Transcript {
  const segments = markupInText();
  let t = 200_000;
  HOSTILE_NAMES.forEach((who, i) => {
    segments.push(segment(who, 0, t, t + 3000, HOSTILE_TEXTS[i % HOSTILE_TEXTS.length] as string));
    // A zero-length and a reversed utterance from the same speaker right after.
    segments.push(segment(who, 1, t + 3000, t + 3000, 'zéro'));
    segments.push(segment(who, 2, t + 4200, t + 3900, 'à rebours'));
    t += 40_000;
  });
  return buildTranscript({ meetingId: 'hostile', language: 'fr', startedAt: null, endedAt: null, participants: HOSTILE_NAMES, segments });
}

const CASES: [string, () => Transcript][] = [
  ['the fixture meeting', () => fixture],
  ['a hostile transcript', hostile],
];

/** What was said, and by whom, as the transcript holds it. */
function said(t: Transcript) {
  return { words: wordsOf(t.turns.map((x) => x.text)), names: new Set(t.turns.map((x) => shown(x.speaker.name.replace(/\s+/g, ' ').trim() || x.speaker.identity))) };
}

/**
 * Each cue on screen at least 0.5 s, and (`readingTime`) as long as its text takes to read unless
 * the next cue starts before that (ffmpeg's times are centiseconds).
 */
function expectReadable(cues: readonly Pick<ReadCue, 'text' | 'start' | 'end'>[], readingTime = true) {
  const starts = cues.map((c) => c.start).sort((a, b) => a - b);
  for (const c of cues) {
    const next = starts.find((s) => s > c.start) ?? Infinity;
    const needed = readingTime ? Math.min(readableMs(c.text.replace(/\u2060/g, '')) / 1000, next - c.start) : 0;
    expect(c.end - c.start, `cue "${c.text}" ${c.start}→${c.end}`).toBeGreaterThanOrEqual(Math.max(0.5, needed) - 0.005);
  }
}

/** The first difference between two word lists, for a readable failure. */
function missing(expected: readonly string[], got: readonly string[]): { lost: string[]; added: string[] } {
  const left = [...got];
  const lost: string[] = [];
  for (const w of expected) {
    const i = left.indexOf(w);
    if (i === -1) lost.push(w);
    else left.splice(i, 1);
  }
  return { lost, added: left };
}

describe.each(CASES)('readers of %s', (_, make) => {
  const transcript = make();
  const { words, names } = said(transcript);

  it('webvtt-parser: a valid file; every word as cue text, every name as a voice span', () => {
    const { cues, errors } = readVtt(renderVtt(transcript));
    expect(errors).toEqual([]);
    expect(missing(words, wordsOf(cues.map((c) => c.text)))).toEqual({ lost: [], added: [] });
    expect(new Set(cues.map((c) => shown(c.speaker ?? '')))).toEqual(names);
    expectReadable(cues);
  });

  it('srt-parser-2: every word as cue text, every name in the cue’s [Name]', () => {
    const cues = readSrt(renderSrt(transcript));
    expect(missing(words, wordsOf(cues.map((c) => c.text)))).toEqual({ lost: [], added: [] });
    expect(new Set(cues.map((c) => shown(c.speaker ?? '')))).toEqual(names);
    expectReadable(cues);
  });

  it('ffmpeg’s SRT decoder: every word and name drawn as text, no styling, no moved cue', async () => {
    const srt = renderSrt(transcript);
    const dialogue = await readWithFfmpeg(srt, 'srt');
    expect(dialogue.filter((d) => /\{\\/.test(d.raw)).map((d) => d.raw)).toEqual([]);
    const expected = readSrt(srt).map((c) => `[${c.speaker}] ${c.text}`);
    expect(missing(wordsOf(expected), wordsOf(dialogue.map((d) => d.text)))).toEqual({ lost: [], added: [] });
    expect(missing(words, wordsOf(dialogue.map((d) => d.text)))).toMatchObject({ lost: [] });
    expectReadable(dialogue, false);
    // ffmpeg's own conversion to SRT keeps them too.
    const plain = await convertWithFfmpeg(srt, 'srt');
    expect(missing(wordsOf(expected), wordsOf(plain.map((d) => d.text)))).toEqual({ lost: [], added: [] });
  });

  it('ffmpeg’s WebVTT decoder: every word drawn as text, nothing else (no name leaking into the text)', async () => {
    const dialogue = await readWithFfmpeg(renderVtt(transcript), 'vtt');
    expect(dialogue.filter((d) => /\{\\[a-z]/.test(d.raw)).map((d) => d.raw)).toEqual([]);
    expect(missing(words, wordsOf(dialogue.map((d) => d.text)))).toEqual({ lost: [], added: [] });
    expectReadable(dialogue, false);
    // ffmpeg's own conversion to SRT keeps them too (it reads `\\{` in the ASS as a block, as libass does not).
    const plain = await convertWithFfmpeg(renderVtt(transcript), 'vtt');
    expect(missing(words, wordsOf(plain.map((d) => d.text)))).toEqual({ lost: [], added: [] });
  });

  it('markdown-it (CommonMark): one heading, one paragraph per turn with its time, name and id, the words as plain text', () => {
    const blocks = readMarkdown(renderTranscriptMarkdown(transcript));
    expect(blocks.filter((b) => b.type === 'heading_open').map((b) => b.tag)).toEqual(['h1']);
    // Inline runs by list depth: participants are the second-level items, turns the top-level paragraphs.
    let depth = 0;
    const topLevel: (typeof blocks)[number]['children'][] = [];
    const nested: (typeof blocks)[number]['children'][] = [];
    for (const b of blocks) {
      if (b.type === 'bullet_list_open') depth++;
      if (b.type === 'bullet_list_close') depth--;
      if (b.type === 'inline' && depth === 0) topLevel.push(b.children);
      if (b.type === 'inline' && depth === 2) nested.push(b.children);
    }
    const text = (children: (typeof blocks)[number]['children']) => children.map((c) => (c.type === 'softbreak' ? ' ' : c.content)).join('');
    const label = (p: { name: string; identity: string }) => p.name.replace(/\s+/g, ' ').trim() || p.identity;
    expect(nested.map((c) => text(c).replace(/ \([^)]*\)$/, ''))).toEqual(transcript.participants.map(label));
    const heads = topLevel.filter((c) => c.some((x) => x.type === 'strong_open'));
    expect(heads).toHaveLength(transcript.turns.length);
    transcript.turns.forEach((turn, i) => {
      const head = heads[i]!;
      const open = head.findIndex((c) => c.type === 'strong_open');
      const close = head.findIndex((c) => c.type === 'strong_close');
      expect(text(head.slice(open + 1, close))).toBe(`${formatClock(turn.startMs)} — ${label(turn.speaker)}`);
      expect(text(head.slice(close + 1))).toBe(` (${turn.id})`);
      const body = topLevel[topLevel.indexOf(head) + 1]!;
      expect(text(body)).toBe(turn.text);
    });
    // Nothing said, no name, becomes a link, an image, HTML, code or emphasis.
    const markup = [...heads.flatMap((h) => [h, topLevel[topLevel.indexOf(h) + 1]!]), ...nested].flat().filter((c) => /^(link|image|html|code|em)/.test(c.type));
    expect(markup).toEqual([]);
  });
});

describe('the conformance test itself', () => {
  it('catches an SRT renderer that forgets one escape: ffmpeg hides {\\an8} and reads <b>', async () => {
    const srt = renderSrt(hostile());
    const broken = srt.replace(/[｛｝＜＞]/g, (c) => c.normalize('NFKC'));
    const expected = readSrt(srt).map((c) => `[${c.speaker}] ${c.text}`);
    const dialogue = await readWithFfmpeg(broken, 'srt');
    expect(missing(wordsOf(expected), wordsOf(dialogue.map((d) => d.text))).lost.length).toBeGreaterThan(0);
    expect(dialogue.some((d) => /\{\\(b1|an8)/.test(d.raw))).toBe(true);
  });

  it('catches a WebVTT renderer that names the voice with references: ffmpeg shows the name in the text', async () => {
    const vtt = renderVtt(hostile()).replace(/＆/g, '&amp;').replace(/＞/g, '&gt;');
    const dialogue = await readWithFfmpeg(vtt, 'vtt');
    const { words } = said(hostile());
    expect(missing(words, wordsOf(dialogue.map((d) => d.text))).added.length).toBeGreaterThan(0);
  });
});
