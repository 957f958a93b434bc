import { Mistral } from '@mistralai/mistralai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cut, DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES, synthMeeting, throughLiveKitOpus, type SynthMeeting } from '../../test/replay/synth-meeting.js';
import { encodePcm } from '../pipelines/audio/ffmpeg.js';
import { saveCassette, type Cassette } from './cassette.js';
import { buildChatEntry } from './chat-replay.js';
import { buildGroundTruthCassette } from './ground-truth.js';
import { startReplayServer, UNMATCHED_STATUS, type ReplayServer } from './server.js';

const MINUTES_MODEL = 'mistral-medium-latest';
const minutesRequest = (when: string) => ({
  model: MINUTES_MODEL,
  messages: [
    { role: 'system', content: 'Tu rédiges le compte rendu structuré d’une réunion.' },
    { role: 'user', content: `Réunion du ${when}.\n\n[00:00:01] Alice : Bonjour à tous,   nous ouvrons le comité.` },
  ],
});
const MinutesSchema = z.object({ summary: z.string(), decisions: z.array(z.string()), dueDate: z.string().nullable() });
const minutesResponse = (content: string) => ({
  id: 'cmpl-3f2a',
  object: 'chat.completion',
  model: 'mistral-medium-2508',
  created: 1_764_300_000,
  choices: [{ index: 0, message: { role: 'assistant', content, tool_calls: null }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 412, completion_tokens: 96, total_tokens: 508 },
});

let dir: string;
let meeting: SynthMeeting;
let cassettePath: string;
let alice: Int16Array;
let bruno: Int16Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replay-server-'));
  meeting = await synthMeeting(join(dir, 'meeting'), DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES);
  alice = meeting.tracks.get('alice') ?? new Int16Array();
  bruno = meeting.tracks.get('bruno') ?? new Int16Array();
  const cassette: Cassette = await buildGroundTruthCassette(meeting.dir, { silenceHallucination: 'Sous-titres réalisés par la communauté d’Amara.org' });
  cassette.chat.push(
    buildChatEntry(minutesRequest('14/03/2025 à 09:30'), minutesResponse('{"summary":"Comité ouvert.","decisions":["Budget validé"],"dueDate":null}'), { id: 'minutes-plain' }),
    buildChatEntry(
      {
        ...minutesRequest('14/03/2025 à 09:30'),
        response_format: { type: 'json_schema', json_schema: { name: 'placeholderName', schema: {}, strict: true } },
      },
      minutesResponse('{"summary":"Comité ouvert.","decisions":["Budget validé"],"dueDate":null}'),
      { id: 'minutes-parsed' },
    ),
  );
  cassettePath = join(dir, 'synth.json');
  await saveCassette(cassettePath, cassette);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const servers: ReplayServer[] = [];
async function start(...args: Parameters<typeof startReplayServer>): Promise<ReplayServer> {
  const s = await startReplayServer(...args);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const utterance = (i: number) => {
  const u = meeting.script.utterances[i];
  if (!u) throw new Error(`no utterance ${i}`);
  return u;
};

/** An OpenAI-compatible multipart upload with Node's own fetch, FormData and Blob. */
async function openAiUpload(url: string, audio: Buffer, fields: Record<string, string | string[]> = {}): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(audio)], { type: 'audio/flac' }), 'utterance.flac');
  form.append('model', 'whisper-large-v3');
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  return fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form, headers: { authorization: 'Bearer sk-test' } });
}

const VerboseJson = z.object({
  task: z.literal('transcribe'),
  language: z.string(),
  duration: z.number(),
  text: z.string(),
  segments: z.array(
    z.object({
      id: z.number(),
      seek: z.number(),
      start: z.number(),
      end: z.number(),
      text: z.string(),
      tokens: z.array(z.number()),
      temperature: z.number(),
      avg_logprob: z.number(),
      compression_ratio: z.number(),
      no_speech_prob: z.number(),
    }),
  ),
});

// The SDK caps a Retry-After by maxInterval, and adds up to 1 s of jitter to every other backoff.
const mistralClient = (url: string, retries = false) =>
  new Mistral({
    apiKey: 'test-key',
    serverURL: url,
    retryConfig: retries
      ? { strategy: 'backoff', backoff: { initialInterval: 20, maxInterval: 1500, exponent: 1.2, maxElapsedTime: 20_000 }, retryConnectionErrors: true }
      : { strategy: 'none' },
  });

describe('OpenAI-compatible transcription route', () => {
  it('answers verbose_json with only the words of the uploaded window, on the upload’s own timeline', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath] });
    const u = utterance(2); // alice, third utterance
    const flac = await throughLiveKitOpus(cut(alice, u.startMs - 300, u.endMs + 300));
    const res = await openAiUpload(s.url, flac, { language: 'fr', response_format: 'verbose_json', 'timestamp_granularities[]': 'segment' });
    expect(res.status).toBe(200);
    const body = VerboseJson.parse(await res.json());
    expect(body.text).toBe(u.text);
    expect(body.language).toBe('french');
    expect(body.segments).toHaveLength(1);
    const seg = body.segments[0];
    expect(seg?.start).toBeCloseTo(0.3, 1);
    expect(seg?.end).toBeCloseTo((u.endMs - u.startMs) / 1000 + 0.3, 1);
    expect(body.duration).toBeCloseTo((u.endMs - u.startMs + 600) / 1000, 1);
    expect(s.stats().matched['openai.transcriptions']).toBe(1);
  });

  it('answers a two-utterance upload of the mix with both texts, and json / text formats with the text only', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath] });
    const a = utterance(0);
    const b = utterance(1);
    const mixed = new Int16Array(alice.length);
    for (let i = 0; i < mixed.length; i++) mixed[i] = (alice[i] ?? 0) + (bruno[i] ?? 0);
    const flac = await throughLiveKitOpus(cut(mixed, a.startMs - 200, b.endMs + 200));
    const verbose = VerboseJson.parse(await (await openAiUpload(s.url, flac, { language: 'fr', response_format: 'verbose_json' })).json());
    expect(verbose.segments.map((x) => x.text.trim())).toEqual([a.text, b.text]);
    expect(verbose.text).toBe(`${a.text} ${b.text}`);

    const json: unknown = await (await openAiUpload(s.url, flac, { language: 'fr' })).json();
    expect(json).toEqual({ text: `${a.text} ${b.text}` });
    const text = await (await openAiUpload(s.url, flac, { language: 'fr', response_format: 'text' })).text();
    expect(text.trim()).toBe(`${a.text} ${b.text}`);
  });

  it('fails loudly, naming the route and the closest entry, when the audio was never recorded', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath] });
    const { speak } = await import('../../test/replay/synth-meeting.js');
    const other = await speak('Cette phrase n’a jamais été prononcée pendant la réunion de ce matin.', 'fr+m3');
    const res = await openAiUpload(s.url, await encodePcm({ samples: other, sampleRate: 16_000, channels: 1 }, 'flac'), { language: 'fr' });
    expect(res.status).toBe(UNMATCHED_STATUS);
    const body = (await res.json()) as { error: { type: string; route: string; closest: { entryId: string; score: number } } };
    expect(body.error.type).toBe('replay_unmatched');
    expect(body.error.route).toBe('openai.transcriptions');
    expect(body.error.closest.score).toBeLessThan(0.8);
    expect(s.unmatched).toHaveLength(1);
    expect(s.unmatched[0]?.route).toBe('openai.transcriptions');
    expect(s.stats().unmatched['openai.transcriptions']).toBe(1);
  });

  it('does not answer a language or model the cassette does not hold', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath] });
    const u = utterance(0);
    const res = await openAiUpload(s.url, await throughLiveKitOpus(cut(alice, u.startMs - 100, u.endMs + 100)), { language: 'de' });
    expect(res.status).toBe(UNMATCHED_STATUS);
    expect(s.unmatched[0]?.lookedFor).toMatchObject({ language: 'de', candidates: 0 });
  });

  it('answers silence with an empty transcript, or with the cassette’s hallucination when it has one', async () => {
    const silence = await encodePcm({ samples: new Int16Array(16_000 * 2), sampleRate: 16_000, channels: 1 }, 'flac');
    const plainCassette = join(dir, 'no-silence.json');
    const c = await buildGroundTruthCassette(meeting.dir);
    await saveCassette(plainCassette, c);
    const plain = await start({ provider: 'openai', cassettes: [plainCassette] });
    const empty = VerboseJson.parse(await (await openAiUpload(plain.url, silence, { language: 'fr', response_format: 'verbose_json' })).json());
    expect(empty.text).toBe('');
    expect(empty.segments).toEqual([]);
    expect(empty.duration).toBeCloseTo(2, 1);

    const hallucinating = await start({ provider: 'openai', cassettes: [cassettePath] });
    const h = VerboseJson.parse(await (await openAiUpload(hallucinating.url, silence, { language: 'fr', response_format: 'verbose_json' })).json());
    expect(h.text).toContain('Amara.org');
    expect(h.segments[0]?.no_speech_prob).toBeGreaterThan(0.5);
    expect(hallucinating.stats().silence['openai.transcriptions']).toBe(1);
  });

  it('rejects a file that is not audio with 400 and a missing model with 400', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath] });
    const res = await openAiUpload(s.url, Buffer.from('this is not audio at all'), { language: 'fr' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe('file');

    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(8)]), 'a.flac');
    const noModel = await fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', body: form });
    expect(noModel.status).toBe(400);
    expect(s.stats().unmatched).toEqual({});
  });
});

describe('Mistral routes with the real @mistralai/mistralai client', () => {
  it('transcribes an upload with audio.transcriptions.complete and segments on the upload’s timeline', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const u = utterance(1); // bruno
    const flac = await throughLiveKitOpus(cut(bruno, u.startMs - 250, u.endMs + 150));
    const out = await mistralClient(s.url).audio.transcriptions.complete({
      model: 'voxtral-mini-latest',
      file: { fileName: 'u.flac', content: new Uint8Array(flac) },
      language: 'fr',
      timestampGranularities: ['segment'],
    });
    expect(out.text).toBe(u.text);
    expect(out.model).toBe('voxtral-mini-latest');
    expect(out.language).toBe('fr');
    expect(out.segments).toHaveLength(1);
    expect(out.segments?.[0]?.start).toBeCloseTo(0.25, 1);
    expect(out.usage.promptAudioSeconds).toBe(Math.ceil((u.endMs - u.startMs + 400) / 1000));
  });

  it('refuses a request without a Bearer token with 401', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(minutesRequest('x')) });
    expect(res.status).toBe(401);
  });

  it('replays chat.complete even when the digits in the prompt differ (timestamps jitter)', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const client = mistralClient(s.url);
    const req = minutesRequest('15/04/2026 à 10:45');
    const out = await client.chat.complete({ model: req.model, messages: req.messages as never });
    expect(out.choices[0]?.message?.content).toContain('Budget validé');
    expect(out.choices[0]?.finishReason).toBe('stop');
    expect(out.usage.promptTokens).toBe(412);
  });

  it('replays chat.parse (json_schema response_format) into the caller’s zod schema', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const req = minutesRequest('14/03/2025 à 09:30');
    const out = await mistralClient(s.url).chat.parse({ model: req.model, messages: req.messages as never, responseFormat: MinutesSchema });
    expect(out.choices?.[0]?.message?.parsed).toEqual({ summary: 'Comité ouvert.', decisions: ['Budget validé'], dueDate: null });
  });

  it('fails loudly on a prompt that changed, saying which recorded entry was closest and where it differs', async () => {
    const unmatched: string[] = [];
    const s = await start({ provider: 'mistral', cassettes: [cassettePath], onUnmatched: (u) => unmatched.push(u.route) });
    const req = minutesRequest('14/03/2025 à 09:30');
    const changed = [req.messages[0], { role: 'user', content: `${req.messages[1]?.content} Et une phrase ajoutée.` }];
    const err: unknown = await mistralClient(s.url, true)
      .chat.complete({ model: req.model, messages: changed as never })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: UNMATCHED_STATUS });
    // 599 is outside the SDK's retry codes: one call, no retries.
    expect(s.stats().calls['mistral.chat']).toBe(1);
    expect(unmatched).toEqual(['mistral.chat']);
    const u = s.unmatched[0];
    expect(u?.closest).toMatchObject({ entryId: 'minutes-plain', modelDiffers: false, schemaNameDiffers: false });
    expect(u?.excerpt?.request).toContain('Et une phrase ajoutée');
    // The HTTP answer names the entry but carries no meeting content.
    expect((err as { body: string }).body).toContain('minutes-plain');
    expect((err as { body: string }).body).not.toContain('comité');
  });
});

describe('fault injection', () => {
  it('429 with Retry-After reaches a plain client, then the route answers again', async () => {
    const s = await start({ provider: 'openai', cassettes: [cassettePath], faults: [{ route: 'openai.transcriptions', status: 429, retryAfterSec: 7, times: 1 }] });
    const u = utterance(0);
    const flac = await throughLiveKitOpus(cut(alice, u.startMs - 100, u.endMs + 100));
    const first = await openAiUpload(s.url, flac, { language: 'fr' });
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(((await first.json()) as { error: { type: string } }).error.type).toBe('rate_limit_exceeded');
    const second = await openAiUpload(s.url, flac, { language: 'fr' });
    expect(second.status).toBe(200);
    expect(s.stats().faults['openai.transcriptions']).toBe(1);
  });

  it('503 for a time window is seen by the Mistral client without retries', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    s.setFaults({ route: 'mistral.chat', status: 503, forMs: 30_000 });
    const req = minutesRequest('14/03/2025 à 09:30');
    const err: unknown = await mistralClient(s.url)
      .chat.complete({ model: req.model, messages: req.messages as never })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 503 });
    s.clearFaults();
    const ok = await mistralClient(s.url).chat.complete({ model: req.model, messages: req.messages as never });
    expect(ok.choices[0]?.finishReason).toBe('stop');
  });

  it('the Mistral client with retries on gets through after three injected faults (429 with Retry-After, then 503s)', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    s.setFaults([
      { route: 'mistral.transcriptions', status: 429, retryAfterSec: 1, times: 1 },
      { route: 'mistral.transcriptions', status: 503, times: 2 },
    ]);
    const u = utterance(3);
    const flac = await throughLiveKitOpus(cut(bruno, u.startMs - 100, u.endMs + 100));
    const t0 = Date.now();
    const out = await mistralClient(s.url, true).audio.transcriptions.complete({
      model: 'voxtral-mini-latest',
      file: { fileName: 'u.flac', content: new Uint8Array(flac) },
      language: 'fr',
    });
    expect(out.text).toBe(u.text);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // it honoured Retry-After: 1
    expect(s.stats().calls['mistral.transcriptions']).toBe(4);
    expect(s.stats().faults['mistral.transcriptions']).toBe(3);
  });

  it('adds latency, and a dropped connection is a client-side error', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const req = minutesRequest('14/03/2025 à 09:30');
    s.setFaults({ route: 'mistral.chat', latencyMs: [300, 400], times: 1 });
    const t0 = performance.now();
    await mistralClient(s.url).chat.complete({ model: req.model, messages: req.messages as never });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);

    s.setFaults({ route: '*', drop: true, times: 1 });
    const err: unknown = await mistralClient(s.url)
      .chat.complete({ model: req.model, messages: req.messages as never })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('ConnectionError');
    expect(s.stats().dropped['mistral.chat']).toBe(1);

    const u = utterance(0);
    const o = await start({ provider: 'openai', cassettes: [cassettePath], faults: [{ route: 'openai.transcriptions', drop: true }] });
    await expect(openAiUpload(o.url, await throughLiveKitOpus(cut(alice, u.startMs, u.endMs)), { language: 'fr' })).rejects.toThrow(/fetch failed/);
  });

  it('holds an answer until the test releases it, in process or over HTTP', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const req = minutesRequest('14/03/2025 à 09:30');
    s.setFaults({ route: 'mistral.chat', hold: true, times: 2 });
    let answered = 0;
    const call = () => mistralClient(s.url).chat.complete({ model: req.model, messages: req.messages as never }).then((r) => (answered++, r));
    const first = call();
    const second = call();
    while (s.held < 2) await sleep(20);
    await sleep(200);
    expect(answered).toBe(0); // held, however long the test waits

    expect(s.releaseHeld()).toBe(2);
    expect((await first).choices[0]?.finishReason).toBe('stop');
    expect((await second).choices[0]?.finishReason).toBe('stop');
    expect(s.held).toBe(0);
    expect(s.stats().faults['mistral.chat']).toBe(2);

    s.setFaults({ route: 'mistral.chat', hold: true, times: 1 });
    const third = call();
    while (s.held < 1) await sleep(20);
    const released = await fetch(`${s.url}/__replay/release`, { method: 'POST' });
    expect(await released.json()).toEqual({ released: 1 });
    expect((await third).choices[0]?.finishReason).toBe('stop');
    expect(s.stats().calls['mistral.chat']).toBe(3); // a release answers once: no extra call
  });

  it('is driven over HTTP: POST adds, GET lists and stats count, DELETE clears, bad rules are refused', async () => {
    const s = await start({ provider: 'mistral', cassettes: [cassettePath] });
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${s.url}/__replay/${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
    const bad = await admin('POST', 'faults', { route: 'mistral.chat', status: 200 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/status/);

    expect((await admin('POST', 'faults', { route: 'mistral.chat', status: 502, times: 2 })).status).toBe(200);
    const listed = (await (await admin('GET', 'faults')).json()) as { faults: { status: number; remaining: number }[] };
    expect(listed.faults).toEqual([expect.objectContaining({ status: 502, remaining: 2 })]);

    const req = minutesRequest('14/03/2025 à 09:30');
    const client = mistralClient(s.url);
    await expect(client.chat.complete({ model: req.model, messages: req.messages as never })).rejects.toMatchObject({ statusCode: 502 });
    expect((await admin('DELETE', 'faults')).status).toBe(200);
    await client.chat.complete({ model: req.model, messages: req.messages as never });
    const stats = (await (await admin('GET', 'stats')).json()) as { calls: Record<string, number>; faults: Record<string, number>; matched: Record<string, number> };
    expect(stats.calls['mistral.chat']).toBe(2);
    expect(stats.faults['mistral.chat']).toBe(1);
    expect(stats.matched['mistral.chat']).toBe(1);
  });
});

describe('cassettes', () => {
  it('refuses to start on a cassette that does not validate, naming the file and the field', async () => {
    const broken = join(dir, 'broken.json');
    await writeFile(broken, JSON.stringify({ version: 1, name: 'x', source: 'y', chat: [{ id: 'a', model: 'm' }] }));
    await expect(startReplayServer({ provider: 'mistral', cassettes: [broken] })).rejects.toThrow(/broken\.json.*chat\.0/);
  });
});
