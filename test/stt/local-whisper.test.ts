/**
 * The product against a real recogniser: the local Whisper (faster-whisper-server, tiny.en; started
 * by test/global-setup.ts) instead of the replay server. The English test meeting
 * (fixtures/meetings/budget-review) goes through the product's own speech-to-text client, the
 * recording mode (the mixed file, and `meeting-agent transcribe` on one file per participant) and the
 * replay server's record mode; what this Whisper invents on non-speech is
 * checked live and against its recorded answers (fixtures/cassettes/local-whisper-non-speech.json).
 *
 * Thresholds were measured here (tiny.en int8, beam search at temperature 0: the same audio gives the
 * same words) and are one word above the measurement; see BENCHMARKS.md ("Accuracy") for the figures.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseTranscribeArgs, runTranscribe, transcribeRecording } from '../../src/cli/transcribe.js';
import { loadConfig } from '../../src/config.js';
import { decodeToPcm } from '../../src/pipelines/audio/ffmpeg.js';
import { createSpeechToText, filterHallucinations, type SttConfig } from '../../src/pipelines/stt/index.js';
import { parseOpenAiTranscription } from '../../src/pipelines/stt/openai-compatible.js';
import { parseTranscriptJson } from '../../src/pipelines/transcript/render-json.js';
import { loadCassette } from '../../src/replay/cassette.js';
import { loadMeetingScript } from '../../src/replay/ground-truth.js';
import { ChatScript } from '../../src/replay/scripted.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { scoreTranscript } from '../accuracy/score.js';
import { normaliseWords, wordErrorRate } from '../accuracy/wer.js';
import { tempDir } from './harness.js';
import { NON_SPEECH_INPUTS } from './non-speech.js';

const whisper = inject('whisper');
const MEETING = 'fixtures/meetings/budget-review';
const NON_SPEECH_CASSETTE = 'fixtures/cassettes/local-whisper-non-speech.json';
const script = await loadMeetingScript(MEETING);

const sttConfig = (baseUrl: string): SttConfig => ({
  STT_PROVIDER: 'openai-compatible',
  STT_BASE_URL: baseUrl,
  STT_API_KEY: '',
  STT_MODEL: whisper.model,
  STT_CONCURRENCY: 1,
  // A shared 2-core machine: one utterance takes 2.5 s alone, several times that under load.
  STT_TIMEOUT_MS: 60_000,
});

const servers: ReplayServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('the local Whisper behind the product’s speech-to-text client', () => {
  it('passes the product’s reachability probe (no /v1/models: the HEAD fallback)', async () => {
    await expect(createSpeechToText(sttConfig(whisper.baseUrl)).probe()).resolves.toBeUndefined();
  });

  it('transcribes an utterance cut from its speaker’s track, with timed segments and Whisper’s confidences', async () => {
    const u = script.utterances.find((x) => x.id === 'u08');
    if (!u) throw new Error('fixture');
    const audio = await decodeToPcm(join(MEETING, `${u.speaker}.opus`), { startMs: u.startMs - 300, durationMs: u.endMs - u.startMs + 600 });
    const r = await createSpeechToText(sttConfig(whisper.baseUrl)).transcribe({ audio, language: 'en' });
    // Measured: 0 (u08 is recognised word for word).
    expect(wordErrorRate(u.text, r.text), r.text).toBeLessThanOrEqual(0.1);
    expect(r.segments.length).toBeGreaterThan(0);
    for (const s of r.segments) {
      expect(s.startMs).toBeGreaterThanOrEqual(0);
      expect(s.endMs).toBeLessThanOrEqual(audio.samples.length / 16 + 50);
      expect(s.noSpeechProb).toBeGreaterThanOrEqual(0);
      expect(s.noSpeechProb).toBeLessThan(0.5);
      expect(s.avgLogprob).toBeLessThan(0);
      expect(s.compressionRatio).toBeGreaterThan(0);
    }
    expect(r).toMatchObject({ language: 'en', provider: 'openai-compatible', filtered: [] });
    expect(r.confidence).toBeGreaterThan(0.4);
  });

  it('gives only the words it heard for a piece cut after two words, and invents no ending', async () => {
    // The first 350 ms of u03 ("Can we move some money…"), as a VAD cutting too early would send it.
    const u = script.utterances.find((x) => x.id === 'u03');
    if (!u) throw new Error('fixture');
    const audio = await decodeToPcm(join(MEETING, `${u.speaker}.opus`), { startMs: u.startMs - 200, durationMs: 550 });
    const r = await createSpeechToText(sttConfig(whisper.baseUrl)).transcribe({ audio, language: 'en' });
    // Measured: "Can we?": a prefix of the truth, no "Thank you." or other stock ending.
    const heard = normaliseWords(r.text);
    expect(heard.length, r.text).toBeGreaterThan(0);
    expect(heard, r.text).toEqual(normaliseWords(u.text).slice(0, heard.length));
  });

  it('leaves no text on the silent and the noisy microphones of the meeting, though Whisper answers with segments there', async () => {
    const stt = createSpeechToText(sttConfig(whisper.baseUrl));
    for (const who of script.participants.filter((p) => p.silent)) {
      const audio = await decodeToPcm(join(MEETING, who.file), { startMs: 0, durationMs: 10_000 });
      const r = await stt.transcribe({ audio, language: 'en' });
      expect(r.text, who.identity).toBe('');
      // What this Whisper does there (recorded in the cassette): a run of "." segments, all dropped as not speech.
      expect(r.filtered.reduce((n, f) => n + f.count, 0), who.identity).toBeGreaterThan(0);
    }
  });
});

describe('the hallucination filter on what this Whisper really invents (recorded answers)', async () => {
  const cassette = await loadCassette(NON_SPEECH_CASSETTE);
  const answers = [...cassette.transcriptions, ...cassette.onSilence].filter((e) => e.provider === 'openai');

  it('holds one recorded answer per non-speech input', () => {
    expect(answers.map((e) => e.id).sort()).toEqual(NON_SPEECH_INPUTS.map((i) => `local-whisper-${i.name}`).sort());
    expect(answers.every((e) => e.origin === 'recorded')).toBe(true);
  });

  it.each(answers.map((e) => [e.id, e] as const))('%s: nothing is kept', (_id, e) => {
    const raw = parseOpenAiTranscription(JSON.stringify(e.response));
    const { kept } = filterHallucinations(raw.segments ?? []);
    expect(kept.map((s) => s.text)).toEqual([]);
  });

  it('replays the silent microphone’s recorded answer through the replay server, and the product keeps nothing of it', async () => {
    const replay = await startReplayServer({ provider: 'openai', cassettes: [NON_SPEECH_CASSETTE] });
    servers.push(replay);
    const audio = await decodeToPcm(join(MEETING, 'tom.opus'), { startMs: 0, durationMs: 10_000 });
    const r = await createSpeechToText(sttConfig(`${replay.url}/v1`)).transcribe({ audio, language: 'en' });
    expect(replay.stats().silence['openai.transcriptions']).toBe(1);
    expect(r.text).toBe('');
    expect(r.filtered).toEqual([{ reason: 'no_speech', count: 8 }]);
  });

  it('includes the classic “Thank you so much for watching” loop on a fan’s rumble, caught as repetition', () => {
    const fan = answers.find((e) => e.id === 'local-whisper-fan-rumble');
    expect(fan?.response.text).toMatch(/thank you so much for watching/i);
    const raw = parseOpenAiTranscription(JSON.stringify(fan?.response));
    expect(filterHallucinations(raw.segments ?? []).filtered).toEqual([{ reason: 'repetition', count: 1 }]);
  });
});

describe('the recording mode on the mixed file, through the real recogniser', () => {
  it('transcribes the whole meeting under one speaker label, with the words of every turn', async () => {
    const rec = await transcribeRecording(join(MEETING, 'mixed.opus'), {
      meetingId: 'rec-local-whisper',
      language: 'en',
      stt: createSpeechToText(sttConfig(whisper.baseUrl)),
      maxPieceMs: 600_000,
      startedAt: new Date().toISOString(),
    });
    // Whisper does not diarize: the mix has one anonymous speaker, never a participant of the meeting.
    expect(rec.participants.map((p) => p.identity)).toEqual(['recording']);
    expect(rec.segments.length).toBeGreaterThan(3);
    const score = scoreTranscript(
      script,
      rec.segments.map((s) => ({ speaker: s.participant.identity, startMs: s.startMs, text: s.text })),
    );
    // Measured here (deterministic; the mix cut by the VAD into 8 utterances, one upload each, as
    // `meeting-agent transcribe` does since issue 13): errors outside the overlap emma 13 of 56 words
    // (23.2 %), james 4 of 32 (12.5 %), olivia 6 of 16 (37.5 %), 22.1 % in all; the overlap's 19
    // words: 2 recognised, 17 lost (Whisper follows one voice). Bounds: one word more than measured.
    const maxErrors: Record<string, number> = { emma: 14, james: 5, olivia: 7 };
    for (const p of score.perSpeaker) {
      expect(p.substitutions + p.deletions + p.insertions, `${p.speaker}: ${JSON.stringify(p)}`).toBeLessThanOrEqual(maxErrors[p.speaker] ?? 0);
    }
    expect(score.total.misattributed).toBe(score.total.hits + score.total.substitutions);
    expect(score.overlap.deletions, JSON.stringify(score.overlap)).toBeGreaterThan(score.overlap.words / 2);
    // Every line lies inside the meeting, in order.
    for (const [i, s] of rec.segments.entries()) {
      expect(s.endMs).toBeLessThanOrEqual(script.durationMs + 50);
      if (i > 0) expect(s.startMs).toBeGreaterThanOrEqual(rec.segments[i - 1]?.startMs ?? 0);
    }
  });
});

describe('the recording mode on one file per participant, through the real recogniser', () => {
  it('meeting-agent transcribe --speaker: every line on its speaker, each speaker’s errors as measured, nothing sent from the silent and noisy microphones', async () => {
    // The minutes are not what this test is about: Mistral answers one scripted minutes object.
    const minutes = {
      title: 'Library budget review',
      summary: 'The building costs went up; the council is asked for more money.',
      topics: [{ title: 'Heating costs', summary: 'Building costs went up by ten percent.', startTurn: 'T002' }],
      decisions: [{ text: 'No money moves from the book fund.', turns: ['T004'] }],
      actionItems: [],
      openQuestions: [],
    };
    const mistral = await startReplayServer({ provider: 'mistral', scripts: { 'mistral.chat': { kind: 'chat', answers: ChatScript.parse({ answers: [{ content: minutes }] }).answers } } });
    servers.push(mistral);
    const dir = await tempDir('transcribe-local-whisper-');
    try {
      // What README.md ("A real Whisper on your machine") tells a user to set, with one file per participant.
      const config = loadConfig('transcribe', {
        STT_PROVIDER: 'openai-compatible',
        STT_BASE_URL: whisper.baseUrl,
        STT_MODEL: whisper.model,
        STT_CONCURRENCY: '1',
        STT_TIMEOUT_MS: '60000',
        MISTRAL_API_KEY: 'test-key',
        MISTRAL_SERVER_URL: mistral.url,
      });
      const args = script.participants.flatMap((p) => ['--speaker', `${p.name}=${join(MEETING, p.file)}`]);
      const result = await runTranscribe(parseTranscribeArgs([...args, '--language', 'en', '--out', dir.path]), config, { log: () => undefined, progress: () => undefined });
      const transcript = parseTranscriptJson(await readFile(join(dir.path, 'transcript.json'), 'utf8'));
      const identityOf = new Map(script.participants.map((p) => [p.name, p.identity]));
      const lines = transcript.turns.flatMap((t) => t.segments.map((s) => ({ speaker: identityOf.get(t.speaker.name) ?? null, startMs: s.startMs, text: s.text })));

      // One line per utterance, on its speaker, where it was said (measured: within 62 ms).
      expect(lines.map((l) => l.speaker)).toEqual(script.utterances.map((u) => u.speaker));
      for (const [i, u] of script.utterances.entries()) expect(Math.abs((lines[i]?.startMs ?? 0) - u.startMs), u.id).toBeLessThan(100);
      // Nothing of the silent and the noisy microphones was sent, so nothing can be invented there.
      for (const quiet of script.participants.filter((p) => p.silent)) {
        expect(result.recording.tracks.find((t) => t.speaker === quiet.name), quiet.identity).toMatchObject({ utterances: 0, sentMs: 0 });
      }
      expect(transcript.completeness).toMatchObject({ complete: true, missingSegments: 0 });

      const score = scoreTranscript(script, lines);
      // Measured here (deterministic: same cuts, beam search at temperature 0): errors outside the
      // overlap emma 6 of 56 words (10.7 %), james 2 of 32 (6.3 %: "I agree." lost), olivia 2 of 16
      // (12.5 %); the overlap's 19 words all recognised. Bounds: one word more than measured.
      const maxErrors: Record<string, number> = { emma: 7, james: 3, olivia: 3 };
      for (const p of score.perSpeaker) {
        expect(p.substitutions + p.deletions + p.insertions, `${p.speaker}: ${JSON.stringify(p)}`).toBeLessThanOrEqual(maxErrors[p.speaker] ?? 0);
      }
      expect(score.total.misattributed + score.overlap.misattributed).toBe(0);
      expect(score.overlap.deletions + score.overlap.substitutions, JSON.stringify(score.overlap)).toBeLessThanOrEqual(1);
    } finally {
      await dir.remove();
    }
  });
});

describe('record mode of the replay server against the real recogniser', () => {
  it('records a real answer into a cassette that then replays without it', async () => {
    const dir = await tempDir('record-local-whisper-');
    try {
      const target = join(dir.path, 'recorded.json');
      const recorder = await startReplayServer({ provider: 'openai', mode: 'record', upstream: { url: whisper.baseUrl }, recordTo: target });
      servers.push(recorder);
      const u = script.utterances.find((x) => x.id === 'u02');
      if (!u) throw new Error('fixture');
      const cut = (padMs: number) => decodeToPcm(join(MEETING, `${u.speaker}.opus`), { startMs: u.startMs - padMs, durationMs: u.endMs - u.startMs + 2 * padMs });
      const live = await createSpeechToText(sttConfig(`${recorder.url}/v1`)).transcribe({ audio: await cut(300), language: 'en' });
      // Measured: "Thank you, the building costs went up by 10%, mostly for heating." (WER 0).
      expect(wordErrorRate(u.text, live.text), live.text).toBeLessThanOrEqual(0.1);

      const c = await loadCassette(target);
      expect(c.source).toMatch(/^Recorded from http:\/\/127\.0\.0\.1:\d+ \(openai\)/);
      expect(c.transcriptions).toHaveLength(1);
      const entry = c.transcriptions[0];
      expect(entry?.origin).toBe('recorded');
      expect(entry?.provider === 'openai' && entry.response.segments.every((s) => s.no_speech_prob >= 0 && s.avg_logprob < 0 && s.compression_ratio > 0)).toBe(true);
      expect(JSON.parse(await readFile(target, 'utf8'))).toMatchObject({ version: 1 });

      // Replayed alone, the same utterance cut a little differently gets the recorded words.
      const replay = await startReplayServer({ provider: 'openai', cassettes: [target] });
      servers.push(replay);
      const again = await createSpeechToText(sttConfig(`${replay.url}/v1`)).transcribe({ audio: await cut(200), language: 'en' });
      expect(again.text).toBe(live.text);
      expect(replay.unmatched).toHaveLength(0);
    } finally {
      await dir.remove();
    }
  });
});
