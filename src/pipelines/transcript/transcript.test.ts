import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { fixtureMeeting, segmentsFor } from '../../../test/pipeline/meeting-fixtures.js';
import { publishedSchemas } from './published-schemas.js';
import { renderTranscriptJson } from './render-json.js';
import { renderTranscriptMarkdown } from './render-markdown.js';
import { renderSrt } from './render-srt.js';
import { renderVtt } from './render-vtt.js';
import type { TranscriptSegment } from '../../meeting/segment.js';
import { buildTranscript } from './transcript.js';

const meeting = fixtureMeeting();
const segments = segmentsFor('m1', meeting);
const transcript = () =>
  buildTranscript({ meetingId: 'm1', language: 'fr', startedAt: '2025-12-01T09:00:00.000Z', endedAt: null, participants: meeting.participants, segments: [...segments].reverse() });

function seg(identity: string, seq: number, startMs: number, endMs: number, text: string): TranscriptSegment {
  return { ...segments[0]!, participant: { identity, name: identity.toUpperCase() }, segmentId: `${identity}-${seq}`, sequence: seq, startMs, endMs, text };
}

describe('transcript', () => {
  it('orders utterances by time and gives every speaker turn an id the minutes can cite', () => {
    const t = transcript();
    expect(t.turns.map((x) => x.id).slice(0, 3)).toEqual(['T001', 'T002', 'T003']);
    expect(t.turns.map((x) => x.speaker.name)).toEqual(meeting.utterances.map((u) => u.name));
    expect(t.turns[0]?.text).toContain('Bonjour à tous');
    // The overlap: Bruno's u12 starts before Chloé's u11 ends and still comes after it.
    const i11 = t.turns.findIndex((x) => x.text.startsWith('Le brouillon est prêt'));
    expect(t.turns[i11 + 1]?.speaker.identity).toBe('bruno');
    // David never spoke but attended: listed, with no turn.
    expect(t.participants.find((p) => p.identity === 'david')).toMatchObject({ turns: 0 });
  });

  it('merges consecutive utterances of one speaker into one turn, skips empty ones, and splits after a long pause', () => {
    const t = buildTranscript({
      meetingId: 'm2', language: 'fr', startedAt: null, endedAt: null, participants: [],
      segments: [seg('a', 0, 0, 1000, 'Un.'), seg('a', 1, 1500, 2000, 'Deux.'), seg('a', 2, 2100, 2200, '   '), seg('b', 0, 2500, 3000, 'Trois.'), seg('b', 1, 60_000, 61_000, 'Quatre.')],
    });
    expect(t.turns.map((x) => [x.id, x.speaker.identity, x.text])).toEqual([
      ['T001', 'a', 'Un. Deux.'],
      ['T002', 'b', 'Trois.'],
      ['T003', 'b', 'Quatre.'],
    ]);
    expect(t.turns[0]?.segments).toHaveLength(2);
  });

  it('renders WebVTT with voice tags and escapes what would break a cue', () => {
    const vtt = renderVtt(buildTranscript({ meetingId: 'm', language: 'fr', startedAt: null, endedAt: null, participants: [], segments: [seg('a', 0, 61_001, 62_500, 'a <b> & c --> d')] }));
    expect(vtt).toBe('WEBVTT\n\n1\n00:01:01.001 --> 00:01:02.500\n<v A>a &lt;b&gt; &amp; c --&gt; d</v>\n');
    const full = renderVtt(transcript());
    expect(full).toContain('<v Alice Martin>Bonjour à tous');
    expect(full.match(/-->/g)).toHaveLength(meeting.utterances.length);
  });

  it('renders SRT with numbered cues, comma milliseconds and the speaker named', () => {
    const srt = renderSrt(transcript());
    // 152 characters take 8.942 s to read at 17 per second: the cue stays until then (the next starts at 10.898 s).
    expect(srt.startsWith('1\n00:00:01,000 --> 00:00:09,942\n[Alice Martin] Bonjour à tous')).toBe(true);
    expect(srt.split('\n\n')).toHaveLength(meeting.utterances.length);
  });

  it('gives no cue less than 0.5 s: a zero-length or reversed utterance is merged with its speaker’s next one, or lengthened', () => {
    const cues = (segments: TranscriptSegment[]) =>
      renderSrt(buildTranscript({ meetingId: 'm', language: 'fr', startedAt: null, endedAt: null, participants: [], segments }))
        .split('\n\n')
        .map((b) => b.split('\n').slice(1, 3).join(' '));
    // Zero-length then the same speaker 0.2 s later: one cue.
    expect(cues([seg('a', 0, 5000, 5000, 'zéro'), seg('a', 1, 5200, 7000, 'durée et suite.')])).toEqual(['00:00:05,000 --> 00:00:07,000 [A] zéro durée et suite.']);
    // Reversed, alone: taken between its two times, then lengthened to its reading time.
    expect(cues([seg('a', 0, 22_000, 20_000, 'fin avant début'), seg('b', 0, 40_000, 41_000, 'Oui.')])).toEqual([
      '00:00:20,000 --> 00:00:22,000 [A] fin avant début',
      '00:00:40,000 --> 00:00:41,000 [B] Oui.',
    ]);
    // Faster than reading: lengthened only up to the next cue, but never under 0.5 s.
    expect(cues([seg('a', 0, 1000, 1100, 'Une phrase bien trop longue pour cent millisecondes.'), seg('b', 0, 2000, 2200, 'Non.')])).toEqual([
      '00:00:01,000 --> 00:00:02,000 [A] Une phrase bien trop longue pour cent millisecondes.',
      '00:00:02,000 --> 00:00:02,500 [B] Non.',
    ]);
  });

  it('renders readable Markdown where spoken text cannot become markup', () => {
    const md = renderTranscriptMarkdown(buildTranscript({ meetingId: 'm', language: 'fr', startedAt: null, endedAt: null, participants: [], segments: [seg('a', 0, 0, 1000, '# titre [lien](http://x) <img src=x>')] }));
    expect(md).toContain('\\# titre \\[lien\\](http://x) &lt;img src=x&gt;');
    expect(renderTranscriptMarkdown(transcript())).toMatch(/\*\*00:00:01 — Alice Martin\*\* \(T001\)/);
  });

  it('writes JSON that the committed JSON Schema accepts', () => {
    const json = JSON.parse(renderTranscriptJson(transcript())) as unknown;
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync('schemas/transcript.schema.json', 'utf8')) as object);
    expect(validate(json), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ...(json as object), schemaVersion: '0.9' })).toBe(false);
  });

  it('keeps the committed JSON Schemas in sync with the zod definitions (run: tsx scripts/gen-schemas.ts)', () => {
    for (const [path, schema] of Object.entries(publishedSchemas())) {
      expect(JSON.parse(readFileSync(path, 'utf8')), `${path} is stale`).toEqual(schema);
    }
  });
});
