/**
 * The speech-to-text field cases (fixtures/field-cases/README.md) through the recording mode's
 * real path: the 14.5 s recording uploaded by the OpenAI-compatible adapter to the replay server,
 * which gives the case's answer; the hallucination filter; the transcript files as stored.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { transcribeRecording } from '../../src/cli/transcribe.js';
import { transcriptFiles, transcriptOf } from '../../src/pipelines/meeting-outputs.js';
import { normaliseForMatch } from '../../src/pipelines/stt/hallucinations.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { loadScript, type RouteScript } from '../../src/replay/scripted.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { openAiConfig } from '../stt/harness.js';

const CASES = 'fixtures/field-cases';
const RECORDING = `${CASES}/common/meeting-2-turns.wav`;
const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'field-cases-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The recording mode on `file` with the speech-to-text service answering `script`; the four transcript files. */
async function transcribeWith(script: RouteScript, file = RECORDING, maxPieceMs = 600_000) {
  const server = await startReplayServer({ provider: 'openai', scripts: { 'openai.transcriptions': script } });
  servers.push(server);
  const rec = await transcribeRecording(file, { meetingId: 'case', language: 'fr', stt: createSpeechToText(openAiConfig(server.url)), maxPieceMs, startedAt: '2026-11-29T09:00:00.000Z' });
  const info = { meetingId: 'case', language: 'fr', startedAt: '2026-11-29T09:00:00.000Z', endedAt: null };
  const transcript = transcriptOf(info, rec.participants.map((p) => ({ ...p, email: null, optedOut: false })), rec.segments, []);
  const files = transcriptFiles(transcript);
  // However the recording is cut, each upload got the script's next answer.
  return { files, transcript: parseTranscriptJson(files['transcript.json']), uploads: server.scriptedCalls('openai.transcriptions').length };
}

/** Every file's text, normalised as the filter matches (case, accents, punctuation; SRT look-alikes mapped back). */
const inFile = (content: string) => ` ${normaliseForMatch(content.normalize('NFKC'))} `;

describe('field case credit-appended', () => {
  it('the credit is in no artefact, the real sentence is intact, and transcript.json counts both drops', async () => {
    const { files, transcript, uploads } = await transcribeWith(await loadScript(`${CASES}/credit-appended/stt-appended.json`, 'transcription'));
    for (const [name, content] of Object.entries(files)) {
      expect(inFile(content), name).not.toContain(' amara ');
      expect(inFile(content), name).toContain(` ${normaliseForMatch('on valide le budget du pilote pour le premier trimestre, et Bruno prépare le planning détaillé')} `);
    }
    // Every upload got the case's answer: the sentence once per upload, two drops per upload.
    const sentence = "D'accord, on valide le budget du pilote pour le premier trimestre, et Bruno prépare le planning détaillé.";
    expect(transcript.turns.map((t) => t.text).join(' ')).toBe(Array(uploads).fill(sentence).join(' '));
    expect(transcript.completeness.filtered).toEqual({ hallucination: 2 * uploads });
  });
});

describe('field case alternating-loop', () => {
  it('each looping sentence at most twice, the first real sentence kept, the drop counted', async () => {
    const { files, transcript, uploads } = await transcribeWith(await loadScript(`${CASES}/alternating-loop/stt-C.json`, 'transcription'));
    const said = transcript.turns.map((t) => t.text).join(' ');
    expect(said.startsWith('Bonjour à tous, on commence la réunion de suivi.')).toBe(true);
    // Per upload (each got the whole answer): each looping sentence at most twice.
    for (const sentence of ['On passe au point suivant.', 'Très bien, merci.']) {
      expect(said.split(sentence).length - 1, sentence).toBeLessThanOrEqual(2 * uploads);
      for (const [name, content] of Object.entries(files)) expect(inFile(content).split(` ${normaliseForMatch(sentence)} `).length - 1, `${name}: ${sentence}`).toBeLessThanOrEqual(2 * uploads);
    }
    // Each upload's loop is cut to its first occurrence: the real sentence, then each looping one once.
    expect(said).toBe(Array(uploads).fill('Bonjour à tous, on commence la réunion de suivi. On passe au point suivant. Très bien, merci.').join(' '));
    expect(transcript.completeness.filtered).toEqual({ repetition: 58 * uploads });
  });
});

describe('what the filter drops is counted even when a piece loses all its segments', () => {
  const creditOnly = { task: 'transcribe', language: 'french', duration: 14.5, text: 'Sous-titres réalisés par la communauté d’Amara.org', segments: [{ id: 0, seek: 0, start: 0, end: 14, text: ' Sous-titres réalisés par la communauté d’Amara.org', tokens: [], temperature: 0, avg_logprob: -0.5, no_speech_prob: 0.5, compression_ratio: 1.1 }] };
  const real = (JSON.parse(readFileSync(`${CASES}/fenced-json/stt.json`, 'utf8')) as { response: Record<string, unknown> }).response;
  let twoPieces: string;
  beforeAll(async () => {
    // 29 s: the 14.5 s recording twice, cut into two pieces of at most 20 s.
    twoPieces = join(dir, 'twice.wav');
    await promisify(execFile)('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-i', RECORDING, '-i', RECORDING, '-filter_complex', '[0:a][1:a]concat=n=2:v=0:a=1', twoPieces]);
  });

  const answers = (list: Record<string, unknown>[]): RouteScript => ({ kind: 'transcription', script: { answers: list.map((response) => ({ response })) } });
  const drops = (t: { completeness: { filtered: Record<string, number> } }) => t.completeness.filtered.hallucination ?? 0;

  it('every piece', async () => {
    const { transcript, uploads } = await transcribeWith({ kind: 'transcription', script: { mode: 'fixed', response: creditOnly } }, twoPieces, 20_000);
    expect(uploads).toBeGreaterThan(1);
    expect(transcript.turns).toEqual([]);
    expect(drops(transcript)).toBe(uploads);
  });

  it('the first piece, or the last', async () => {
    const { uploads } = await transcribeWith({ kind: 'transcription', script: { mode: 'fixed', response: real } }, twoPieces, 20_000);
    const first = await transcribeWith(answers([creditOnly, ...Array<typeof real>(uploads - 1).fill(real)]), twoPieces, 20_000);
    expect(first.transcript.turns.length).toBeGreaterThan(0);
    expect(drops(first.transcript)).toBe(1);
    const last = await transcribeWith(answers([...Array<typeof real>(uploads - 1).fill(real), creditOnly]), twoPieces, 20_000);
    expect(last.transcript.turns.length).toBeGreaterThan(0);
    expect(drops(last.transcript)).toBe(1);
  });
});
