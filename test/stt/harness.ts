/**
 * Test support for src/pipelines/stt: fixture audio cut like the live agent cuts it, cassettes
 * derived from the committed fixture cassette, and a recording pass-through proxy that shows what
 * actually went over the wire (content type, bytes, form fields, concurrency).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { decodeToPcm, type PcmAudio } from '../../src/pipelines/audio/ffmpeg.js';
import { SttError } from '../../src/pipelines/stt/index.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import type { Config } from '../../src/config.js';
import { loadCassette, saveCassette, type Cassette } from '../../src/replay/cassette.js';
import { loadMeetingScript, type MeetingScript } from '../../src/replay/ground-truth.js';

export const MEETING_DIR = 'fixtures/meetings/comite-projet';
export const FIXTURE_CASSETTE = 'fixtures/cassettes/comite-projet.json';

export type Utterance = MeetingScript['utterances'][number];

let script: MeetingScript | undefined;
export async function meetingScript(): Promise<MeetingScript> {
  script ??= await loadMeetingScript(MEETING_DIR);
  return script;
}

export async function utterance(id: string): Promise<Utterance> {
  const u = (await meetingScript()).utterances.find((x) => x.id === id);
  if (!u) throw new Error(`no utterance ${id} in the fixture meeting`);
  return u;
}

/** The utterance as the agent would cut it from its speaker's own track: 16 kHz mono, with a little padding. */
export async function cutUtterance(u: Utterance, padMs = 200): Promise<PcmAudio> {
  return decodeToPcm(join(MEETING_DIR, `${u.speaker}.opus`), { startMs: Math.max(0, u.startMs - padMs), durationMs: u.endMs - u.startMs + 2 * padMs });
}

export async function cutTrack(file: string, startMs: number, durationMs: number): Promise<PcmAudio> {
  return decodeToPcm(join(MEETING_DIR, file), { startMs, durationMs });
}

/** A quiet room: deterministic noise far below speech (about -70 dBFS). */
export function quietRoom(ms: number, seed = 7): PcmAudio {
  const samples = new Int16Array(Math.round((ms / 1000) * 16_000));
  let x = seed;
  for (let i = 0; i < samples.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    samples[i] = Math.round(((x / 2 ** 32) * 2 - 1) * 10);
  }
  return { samples, sampleRate: 16_000, channels: 1 };
}

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The fixture cassette plus `onSilence` answers, written to `path` (what a Whisper server says on silence). */
export async function cassetteWithSilence(
  path: string,
  silence: { text: string; noSpeechProb: number; avgLogprob: number; extraSegments?: string[] },
): Promise<string> {
  const c: Cassette = await loadCassette(FIXTURE_CASSETTE);
  const texts = [silence.text, ...(silence.extraSegments ?? [])];
  const segments = texts.map((text, i) => ({
    id: i,
    seek: 0,
    start: i,
    end: i + 1,
    text: ` ${text}`,
    tokens: [],
    temperature: 0,
    avg_logprob: silence.avgLogprob,
    compression_ratio: 1,
    no_speech_prob: silence.noSpeechProb,
  }));
  c.onSilence = [
    {
      id: 'silence-openai',
      origin: 'ground-truth',
      provider: 'openai',
      model: '*',
      language: 'fr',
      response: { task: 'transcribe', language: 'french', duration: texts.length, text: texts.join(' '), segments },
    },
    {
      id: 'silence-mistral',
      origin: 'ground-truth',
      provider: 'mistral',
      model: '*',
      language: 'fr',
      response: {
        model: '*',
        text: texts.join(' '),
        language: 'fr',
        segments: texts.map((text, i) => ({ type: 'transcription_segment' as const, text, start: i, end: i + 1 })),
        usage: { prompt_tokens: 0, completion_tokens: 10, total_tokens: 10, prompt_audio_seconds: texts.length },
      },
    },
  ];
  await saveCassette(path, c);
  return path;
}

/** The fixture cassette with a speaker label on every Mistral segment of the mix (what diarization returns). */
export async function cassetteWithSpeakers(path: string): Promise<string> {
  const c: Cassette = await loadCassette(FIXTURE_CASSETTE);
  const { utterances } = await meetingScript();
  for (const e of c.transcriptions) {
    if (e.provider !== 'mistral') continue;
    e.response.segments = e.response.segments.map((s) => {
      // A segment is one sentence of an utterance (or the whole one): its speaker is the utterance's.
      const u = utterances.find((x) => s.start >= x.startMs / 1000 - 0.02 && s.end <= x.endMs / 1000 + 0.02 && x.text.includes(s.text.trim()));
      return { ...s, speaker_id: u ? `speaker_${u.speaker}` : null };
    });
  }
  await saveCassette(path, c);
  return path;
}

export interface CapturedUpload {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  fields: [string, string][];
  file: { name: string; type: string; size: number; magic: string } | null;
}

export interface RecordingProxy {
  url: string;
  uploads: CapturedUpload[];
  /** Highest number of requests the proxy had in flight at once. */
  maxInFlight: number;
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of a replay server: records every request's headers and
 * multipart fields (the file by type, size and first bytes) and forwards it unchanged.
 */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const uploads: CapturedUpload[] = [];
  let inFlight = 0;
  const proxy: RecordingProxy = { url: '', uploads, maxInFlight: 0, close: async () => undefined };
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const contentType = req.headers['content-type'];
    const captured: CapturedUpload = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
      contentType,
      fields: [],
      file: null,
    };
    if (contentType?.startsWith('multipart/form-data')) {
      const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
      for (const [k, v] of form) {
        if (typeof v === 'string') captured.fields.push([k, v]);
        else {
          const bytes = Buffer.from(await v.arrayBuffer());
          captured.file = { name: v.name, type: v.type, size: bytes.length, magic: bytes.subarray(0, 4).toString('latin1') };
        }
      }
    }
    uploads.push(captured);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || ['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) continue;
      headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    }
    let upstream: Response;
    try {
      upstream = await fetch(`${target}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
      });
    } catch {
      // The replay server dropped the connection: drop ours too, so the client sees the same.
      req.socket.destroy();
      return;
    }
    const out = Buffer.from(await upstream.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(k)) outHeaders[k] = v;
    });
    res.writeHead(upstream.status, outHeaders);
    res.end(out);
  }

  const server = createServer((req, res) => {
    inFlight++;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
    handle(req, res)
      .catch(() => req.socket.destroy())
      .finally(() => inFlight--);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return proxy;
}

/** A server that answers every request with one status (for probe and auth failures). */
export async function startStatusServer(status: number, body: unknown = { error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type SttTestConfig = Pick<Config, 'STT_PROVIDER' | 'STT_BASE_URL' | 'STT_API_KEY' | 'STT_MODEL' | 'STT_CONCURRENCY' | 'STT_TIMEOUT_MS'> &
  Partial<Pick<Config, 'MISTRAL_API_KEY' | 'MISTRAL_SERVER_URL'>>;

export function openAiConfig(baseUrl: string, overrides: Partial<SttTestConfig> = {}): SttTestConfig {
  return {
    STT_PROVIDER: 'openai-compatible',
    STT_BASE_URL: `${baseUrl}/v1`,
    STT_API_KEY: '',
    STT_MODEL: 'whisper-large-v3',
    STT_CONCURRENCY: 4,
    STT_TIMEOUT_MS: 10_000,
    ...overrides,
  };
}

export function mistralConfig(baseUrl: string, overrides: Partial<SttTestConfig> = {}): SttTestConfig {
  return {
    STT_PROVIDER: 'mistral',
    STT_BASE_URL: `${baseUrl}/v1`,
    STT_API_KEY: 'test-mistral-key',
    STT_MODEL: 'voxtral-mini-latest',
    STT_CONCURRENCY: 4,
    STT_TIMEOUT_MS: 10_000,
    ...overrides,
  };
}

/** Fast retries for tests: small backoff, so fault tests stay short; lower bounds only are asserted. */
export const FAST_RETRY = { baseDelayMs: 50, maxDelayMs: 200, maxRetryAfterMs: 5_000 } as const;

/**
 * What each adapter's test file needs: replay servers (and recording proxies) closed after every
 * test, and a temporary folder for derived cassettes, removed after the file.
 */
export function useAdapterServers(provider: 'openai' | 'mistral') {
  let tmp: TempDir | undefined;
  const servers: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    tmp = await tempDir(`stt-${provider}-`);
  });
  afterAll(async () => {
    await tmp?.remove();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return {
    /** A file in the per-file temporary folder. */
    tmpFile: (name: string) => join(tmp!.path, name),
    /** Closes `server` after the current test. */
    closeAfterTest<T extends { close(): Promise<void> }>(server: T): T {
      servers.push(server);
      return server;
    },
    async replay(opts: Partial<Parameters<typeof startReplayServer>[0]> = {}): Promise<ReplayServer> {
      const s = await startReplayServer({ provider, cassettes: [FIXTURE_CASSETTE], ...opts });
      servers.push(s);
      return s;
    },
    async proxyTo(s: ReplayServer): Promise<RecordingProxy> {
      const p = await startRecordingProxy(s.url);
      servers.push(p);
      return p;
    },
  };
}

/** Awaits a call expected to fail, and returns its SttError (any other outcome fails the test). */
export async function sttRejection(p: Promise<unknown>): Promise<SttError> {
  const e = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SttError);
  return e as SttError;
}
