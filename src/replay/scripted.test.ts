import { Mistral } from '@mistralai/mistralai';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePcm } from '../pipelines/audio/ffmpeg.js';
import { loadScript, TranscriptionScript } from './scripted.js';
import { startReplayServer, UNMATCHED_STATUS, type ReplayServer } from './server.js';

const servers: ReplayServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const client = (url: string) => new Mistral({ apiKey: 'k', serverURL: url });
const ask = (url: string, maxTokens?: number) =>
  client(url).chat.complete({ model: 'mistral-medium-2508', messages: [{ role: 'user', content: 'Compte rendu ?' }], ...(maxTokens ? { maxTokens } : {}) });

describe('scripted answers (field-case answer lists)', () => {
  it('answers chat calls in the file’s order, whatever they ask, and records what each asked for', async () => {
    const s = await startReplayServer({ provider: 'mistral', scripts: { 'mistral.chat': await loadScript('fixtures/field-cases/minutes-cut-off/mistral.json', 'chat') } });
    servers.push(s);
    const first = await ask(s.url, 1000);
    expect(first.choices[0]?.finishReason).toBe('length');
    expect(String(first.choices[0]?.message?.content)).toMatch(/^\{"title":"Point projet visioconférence","summary":"Le comité fait le point sur l'installation/);
    const second = await ask(s.url, 4000);
    expect(second.choices[0]?.finishReason).toBe('length');
    expect(s.scriptedCalls('mistral.chat').map((c) => c.maxTokens)).toEqual([1000, 4000]);
    // Past the last answer: unmatched, never an invented answer.
    await expect(ask(s.url)).rejects.toMatchObject({ statusCode: UNMATCHED_STATUS });
  });

  it('sends an object answer as its JSON text, and an error answer with its status and headers', async () => {
    const path = 'fixtures/field-cases/fenced-json/mistral-fenced-then-plain.json';
    const s = await startReplayServer({ provider: 'mistral', scripts: { 'mistral.chat': await loadScript(path, 'chat') } });
    servers.push(s);
    await ask(s.url);
    const plain = await ask(s.url);
    const expected = (JSON.parse(readFileSync(path, 'utf8')) as { answers: { content: unknown }[] }).answers[1]?.content;
    expect(JSON.parse(String(plain.choices[0]?.message?.content))).toEqual(expected);

    const failing = await startReplayServer({ provider: 'mistral', scripts: { 'mistral.chat': { kind: 'chat', answers: [{ status: 429, headers: { 'retry-after': '4' }, body: { message: 'rate limited' } }] } } });
    servers.push(failing);
    const res = await fetch(`${failing.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }) });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('4');
  });

  it('gives every upload the fixed speech-to-text answer of a `mode: fixed` file', async () => {
    const s = await startReplayServer({ provider: 'openai', scripts: { 'openai.transcriptions': await loadScript('fixtures/field-cases/fenced-json/stt.json', 'transcription') } });
    servers.push(s);
    const upload = () => {
      const form = new FormData();
      form.set('file', new Blob([readFileSync('fixtures/field-cases/common/meeting-2-turns.wav')]), 'a.wav');
      form.set('model', 'whisper-1');
      form.set('response_format', 'verbose_json');
      return fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', body: form }).then((r) => r.json() as Promise<{ segments: { text: string }[] }>);
    };
    for (let i = 0; i < 2; i++) expect((await upload()).segments.map((x) => x.text.trim())[0]).toMatch(/^Bonjour à tous\. Nous faisons le point/);
    expect(s.scriptedCalls('openai.transcriptions')).toHaveLength(2);
  });

  it('refuses a file that is not an answer list, naming the field', async () => {
    await expect(loadScript('fixtures/field-cases/fenced-json/stt.json', 'chat')).rejects.toThrow(/script .*stt\.json: answers/);
  });
});

/** 16 kHz mono: a 440 Hz tone at -12 dBFS during each [start, end) span (seconds), faint noise elsewhere. */
function tones(seconds: number, spans: [number, number][]): Int16Array {
  const out = new Int16Array(seconds * 16_000);
  for (let i = 0; i < out.length; i++) {
    const t = i / 16_000;
    out[i] = spans.some(([a, b]) => t >= a && t < b) ? Math.round(8000 * Math.sin(2 * Math.PI * 440 * t)) : (i % 7) - 3;
  }
  return out;
}

async function upload(url: string, samples: Int16Array): Promise<Response> {
  const flac = await encodePcm({ samples, sampleRate: 16_000, channels: 1 }, 'flac');
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(flac)], { type: 'audio/flac' }), 'a.flac');
  form.set('model', 'whisper-1');
  form.set('language', 'fr');
  form.set('response_format', 'verbose_json');
  return fetch(`${url}/v1/audio/transcriptions`, { method: 'POST', body: form });
}

describe('scripted transcriptions by energy (the field cases\u2019 "energy" mode)', () => {
  it('answers one segment per burst of sound on the upload\u2019s timeline, and call i gets faults[i]', async () => {
    const script = TranscriptionScript.parse(JSON.parse(readFileSync('fixtures/field-cases/stt-retry-after-45s/stt-429.json', 'utf8')));
    const s = await startReplayServer({ provider: 'openai', scripts: { 'openai.transcriptions': { kind: 'transcription', script } } });
    servers.push(s);
    const audio = tones(6, [
      [0.5, 1.3],
      [3, 3.8],
    ]);
    const first = (await (await upload(s.url, audio)).json()) as { segments: { start: number; end: number; text: string }[]; text: string };
    expect(first.text).toBe('bip bip');
    expect(first.segments.map((x) => [x.start, x.end, x.text])).toEqual([
      [0.5, 1.3, ' bip'],
      [3, 3.8, ' bip'],
    ]);
    const second = await upload(s.url, audio);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('45');
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
    expect((await upload(s.url, audio)).status).toBe(200);
  });

  it('numbers the bursts when the text asks for it, so a test can tell words apart', async () => {
    const s = await startReplayServer({ provider: 'openai', scripts: { 'openai.transcriptions': { kind: 'transcription', script: TranscriptionScript.parse({ mode: 'energy', energyText: 'mot {n}' }) } } });
    servers.push(s);
    const answer = (await (await upload(s.url, tones(4, [[0.2, 0.9], [2, 2.6]]))).json()) as { text: string };
    expect(answer.text).toBe('mot 1 mot 2');
  });
});
