import { Mistral } from '@mistralai/mistralai';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cut, DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES, synthMeeting, throughLiveKitOpus, type SynthMeeting } from '../../test/replay/synth-meeting.js';
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import { loadCassette, type Cassette } from './cassette.js';
import { buildGroundTruthCassette, loadMeetingScript } from './ground-truth.js';
import { startReplayServer } from './server.js';

let dir: string;
let meeting: SynthMeeting;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replay-gt-'));
  meeting = await synthMeeting(join(dir, 'meeting'), [...DEFAULT_PARTICIPANTS, { identity: 'chloe', name: 'Chloé', email: 'c@example.fr', voice: 'fr', silent: true }], DEFAULT_UTTERANCES);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function runScript(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/make-fixture-cassettes.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

describe('scripts/make-fixture-cassettes.ts', () => {
  it('writes one entry per speaking participant and provider, then the mix, from the ground truth', async () => {
    const out = join(dir, 'synth.json');
    const r = await runScript([meeting.dir, '--out', out]);
    expect(r.code, r.out).toBe(0);
    const c = await loadCassette(out);
    expect(c.source).toMatch(/ground-truth.*NOT recorded from a live service.*record mode/s);
    expect(c.transcriptions.map((e) => e.id)).toEqual([
      'synth-meeting-alice-openai',
      'synth-meeting-alice-mistral',
      'synth-meeting-bruno-openai',
      'synth-meeting-bruno-mistral',
      'synth-meeting-mixed-openai',
      'synth-meeting-mixed-mistral',
    ]);
    const bruno = c.transcriptions.find((e) => e.id === 'synth-meeting-bruno-openai');
    const brunoSaid = meeting.script.utterances.filter((u) => u.speaker === 'bruno');
    expect(bruno?.provider === 'openai' && bruno.response.segments.map((s) => [s.start, s.text.trim()])).toEqual(brunoSaid.map((u) => [Math.round(u.startMs / 10) / 100, u.text]));
    const mix = c.transcriptions.find((e) => e.id === 'synth-meeting-mixed-mistral');
    expect(mix?.provider === 'mistral' && mix.response.segments).toHaveLength(meeting.script.utterances.length);
    expect(c.transcriptions.every((e) => e.model === '*' && e.language === 'fr' && e.origin === 'ground-truth')).toBe(true);
  });

  it('refuses a script whose utterance names an unknown speaker', async () => {
    const { writeFile, readFile } = await import('node:fs/promises');
    const bad = join(dir, 'bad');
    await synthMeeting(bad, DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES.slice(0, 1));
    const script = JSON.parse(await readFile(join(bad, 'script.json'), 'utf8')) as { utterances: { speaker: string }[] };
    (script.utterances[0] as { speaker: string }).speaker = 'mallory';
    await writeFile(join(bad, 'script.json'), JSON.stringify(script));
    await expect(buildGroundTruthCassette(bad)).rejects.toThrow(/unknown speaker "mallory"/);
  });
});

// The committed fixture meeting and its cassette, when both exist.
const FIXTURE = 'fixtures/meetings/comite-projet';
const FIXTURE_CASSETTE = 'fixtures/cassettes/comite-projet.json';
const haveFixture = existsSync(join(FIXTURE, 'script.json')) && existsSync(FIXTURE_CASSETTE);

describe.skipIf(!haveFixture)('the committed comite-projet cassette', () => {
  it('is what the script generates from the fixture today (regenerate it when the fixture changes)', async () => {
    // Compared by digest: a stale fingerprint is one long base64 string nobody can read in a diff.
    const summary = (c: Cassette) =>
      c.transcriptions.map((e) => ({
        id: e.id,
        frames: e.audio.fingerprint.frames,
        fingerprint: createHash('sha256').update(e.audio.fingerprint.data).digest('hex').slice(0, 16),
        response: e.response,
      }));
    const committed = summary(await loadCassette(FIXTURE_CASSETTE));
    const fresh = summary(await buildGroundTruthCassette(FIXTURE));
    expect(committed, 'stale: run `npx tsx scripts/make-fixture-cassettes.ts`').toEqual(fresh);
  });

  it('answers every fixture utterance, cut with VAD-like padding and through Opus, with its exact text, for both providers', async () => {
    const script = await loadMeetingScript(FIXTURE);
    const tracks = new Map<string, Int16Array>();
    for (const p of script.participants) tracks.set(p.identity, (await decodeToPcm(join(FIXTURE, p.file))).samples);
    const openai = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    const mistral = await startReplayServer({ provider: 'mistral', cassettes: [FIXTURE_CASSETTE] });
    const client = new Mistral({ apiKey: 'k', serverURL: mistral.url });
    try {
      for (const [i, u] of script.utterances.entries()) {
        // The agent's 300 ms pre-roll, or an onset found two Silero windows late without it: the
        // first word then lacks 64 ms but is mostly there. (A cut deeper into a word is a hard cut:
        // the word goes to the piece holding most of it, transcription-format.test.ts.)
        const pad = i % 2 === 0 ? 300 : -64;
        const flac = await throughLiveKitOpus(cut(tracks.get(u.speaker) ?? new Int16Array(), u.startMs - pad, u.endMs + 300));
        if (i % 2 === 0) {
          const form = new FormData();
          form.append('file', new Blob([new Uint8Array(flac)], { type: 'audio/flac' }), 'u.flac');
          form.append('model', 'whisper-large-v3');
          form.append('language', 'fr');
          const res = await fetch(`${openai.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
          expect(((await res.json()) as { text: string }).text, u.id).toBe(u.text.trim());
        } else {
          const out = await client.audio.transcriptions.complete({ model: 'voxtral-mini-latest', file: { fileName: 'u.flac', content: new Uint8Array(flac) }, language: 'fr' });
          expect(out.text, u.id).toBe(u.text.trim());
        }
      }
      // A silent participant's track is silence, not someone else's words.
      const silent = script.participants.find((p) => p.silent);
      if (silent) {
        const flac = await throughLiveKitOpus(cut(tracks.get(silent.identity) ?? new Int16Array(), 10_000, 14_000));
        const out = await client.audio.transcriptions.complete({ model: 'voxtral-mini-latest', file: { fileName: 's.flac', content: new Uint8Array(flac) }, language: 'fr' });
        expect(out.text).toBe('');
      }
      expect(openai.unmatched).toEqual([]);
      expect(mistral.unmatched).toEqual([]);
    } finally {
      await openai.close();
      await mistral.close();
    }
  });
});
