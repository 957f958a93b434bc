import { Mistral } from '@mistralai/mistralai';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cut, DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES, synthMeeting, throughLiveKitOpus, type SynthMeeting } from '../../test/replay/synth-meeting.js';
import { loadCassette, saveCassette } from './cassette.js';
import { buildChatEntry } from './chat-replay.js';
import { buildGroundTruthCassette } from './ground-truth.js';
import { startReplayServer, type ReplayServer } from './server.js';

const UPSTREAM_KEY = 'sk-upstream-secret-do-not-store';
const chatBody = {
  model: 'mistral-small-latest',
  messages: [
    { role: 'system', content: 'Extrais les décisions.' },
    { role: 'user', content: 'Bruno : le budget du deuxième trimestre est validé.' },
  ],
};

let dir: string;
let meeting: SynthMeeting;
let upstreamCassette: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'replay-record-'));
  meeting = await synthMeeting(join(dir, 'meeting'), DEFAULT_PARTICIPANTS, DEFAULT_UTTERANCES);
  const c = await buildGroundTruthCassette(meeting.dir);
  c.chat.push(
    buildChatEntry(chatBody, {
      id: 'cmpl-1',
      object: 'chat.completion',
      model: 'mistral-small-2506',
      created: 1_764_300_000,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Budget T2 validé.', tool_calls: null }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 30, completion_tokens: 5, total_tokens: 35 },
    }),
  );
  upstreamCassette = join(dir, 'upstream.json');
  await saveCassette(upstreamCassette, c);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function start(...args: Parameters<typeof startReplayServer>) {
  const s = await startReplayServer(...args);
  servers.push(s);
  return s;
}

async function upload(url: string, flac: Buffer, format: string): Promise<Response> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(flac)], { type: 'audio/flac' }), 'u.flac');
  form.append('model', 'whisper-large-v3');
  form.append('language', 'fr');
  form.append('response_format', format);
  return fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

describe('record mode, against a real-protocol upstream on loopback', () => {
  it('forwards transcriptions, answers in the client’s format, and writes entries that replay later', async () => {
    const target = join(dir, 'recorded-openai.json');
    await copyFile(upstreamCassette, target); // holds ground-truth entries, which the recording must replace
    const upstream = await start({ provider: 'openai', cassettes: [upstreamCassette] });
    const recorder = await start({ provider: 'openai', mode: 'record', upstream: { url: upstream.url, apiKey: UPSTREAM_KEY }, recordTo: target });

    const u = meeting.script.utterances[2];
    if (!u) throw new Error('fixture');
    const flac = await throughLiveKitOpus(cut(meeting.tracks.get(u.speaker) ?? new Int16Array(), u.startMs - 200, u.endMs + 200));
    const res = await upload(recorder.url, flac, 'json');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ text: u.text });
    expect(upstream.stats().matched['openai.transcriptions']).toBe(1);
    expect(recorder.stats().recorded).toBe(1);

    const file = await readFile(target, 'utf8');
    expect(file).not.toContain(UPSTREAM_KEY);
    const c = await loadCassette(target);
    expect(c.source).toMatch(/Recorded from http:\/\/127\.0\.0\.1:\d+ \(openai\)/);
    expect(c.transcriptions.filter((e) => e.provider === 'openai').map((e) => e.origin)).toEqual(['recorded']);
    expect(c.transcriptions.some((e) => e.provider === 'mistral' && e.origin === 'ground-truth')).toBe(true);
    const entry = c.transcriptions.find((e) => e.origin === 'recorded');
    expect(entry?.provider === 'openai' && entry.response.segments.map((s) => s.text.trim())).toEqual([u.text]);

    // Replay from the recording alone: the same utterance, cut differently, gets the recorded words.
    const replay = await start({ provider: 'openai', cassettes: [target] });
    const again = await throughLiveKitOpus(cut(meeting.tracks.get(u.speaker) ?? new Int16Array(), u.startMs - 100, u.endMs + 100));
    const verbose = (await (await upload(replay.url, again, 'verbose_json')).json()) as { text: string; segments: unknown[] };
    expect(verbose.text).toBe(u.text);
    expect(verbose.segments).toHaveLength(1);
  });

  it('records Mistral chat and transcription answers made through the real SDK, sending its own key upstream', async () => {
    const target = join(dir, 'recorded-mistral.json');
    const upstream = await start({ provider: 'mistral', cassettes: [upstreamCassette], requireAuth: true });
    // The client's key is a dummy; the recorder sends UPSTREAM_KEY to the upstream.
    const recorder = await start({ provider: 'mistral', mode: 'record', upstream: { url: `${upstream.url}/v1`, apiKey: UPSTREAM_KEY }, recordTo: target });
    const client = new Mistral({ apiKey: 'client-dummy', serverURL: recorder.url });

    const chat = await client.chat.complete({ model: chatBody.model, messages: chatBody.messages as never });
    expect(chat.choices[0]?.message?.content).toBe('Budget T2 validé.');
    const u = meeting.script.utterances[1];
    if (!u) throw new Error('fixture');
    const flac = await throughLiveKitOpus(cut(meeting.tracks.get(u.speaker) ?? new Int16Array(), u.startMs - 300, u.endMs + 300));
    const tr = await client.audio.transcriptions.complete({ model: 'voxtral-mini-latest', file: { fileName: 'u.flac', content: new Uint8Array(flac) }, language: 'fr' });
    expect(tr.text).toBe(u.text);

    const c = await loadCassette(target);
    expect(c.chat).toHaveLength(1);
    expect(c.chat[0]?.origin).toBe('recorded');
    expect(c.transcriptions).toHaveLength(1);
    expect(await readFile(target, 'utf8')).not.toContain(UPSTREAM_KEY);

    // The recording replays through the SDK with no upstream at all.
    await upstream.close();
    const replay = await start({ provider: 'mistral', cassettes: [target] });
    const replayClient = new Mistral({ apiKey: 'client-dummy', serverURL: replay.url });
    expect((await replayClient.chat.complete({ model: chatBody.model, messages: chatBody.messages as never })).choices[0]?.message?.content).toBe('Budget T2 validé.');
    const tr2 = await replayClient.audio.transcriptions.complete({
      model: 'voxtral-mini-latest',
      file: { fileName: 'u.flac', content: new Uint8Array(flac) },
      language: 'fr',
      timestampGranularities: ['segment'],
    });
    expect(tr2.text).toBe(u.text);
    expect(tr2.segments?.[0]?.start).toBeCloseTo(0.3, 1);
  });

  it('relays an upstream error with its Retry-After and records nothing', async () => {
    const target = join(dir, 'recorded-errors.json');
    const upstream = await start({ provider: 'mistral', cassettes: [upstreamCassette], faults: [{ route: 'mistral.chat', status: 429, retryAfterSec: 2 }] });
    const recorder = await start({ provider: 'mistral', mode: 'record', upstream: { url: upstream.url, apiKey: UPSTREAM_KEY }, recordTo: target });
    const res = await fetch(`${recorder.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify(chatBody),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(recorder.stats().recorded).toBe(0);
    await expect(readFile(target)).rejects.toThrow(/ENOENT/);
  });
});
