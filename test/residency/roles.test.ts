/**
 * The data-residency guard as operators meet it: a role configured to send meeting content
 * elsewhere than ALLOWED_HOSTS, by any route the client libraries take, refuses to start and names
 * the setting; and the HTTP clients never follow a redirect to a host nobody checked (replay
 * servers with an injected redirect, the real SDK clients).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freeTcpPort } from '../../src/local/ports.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { createMistralChat } from '../../src/pipelines/minutes/mistral-chat.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { spawnApi, spawnRole } from '../api/helpers.js';

const services = inject('services');

describe('a role whose clients would connect outside ALLOWED_HOSTS refuses to start', { timeout: 120_000 }, () => {
  it('the pipeline names every setting a client library would take elsewhere (service=gmail, AWS_ENDPOINT_URL_S3, a foreign Mistral)', async () => {
    const proc = spawnRole('pipeline', [], {
      ...services,
      S3_ENDPOINT: '',
      AWS_ENDPOINT_URL_S3: 'https://s3.outside.example',
      S3_BUCKET: 'residency',
      STT_BASE_URL: 'http://127.0.0.1:9/v1',
      MISTRAL_API_KEY: 'k',
      MISTRAL_SERVER_URL: 'https://api.mistral.ai',
      SMTP_URL: 'smtp://127.0.0.1:2525/?service=gmail',
      MAIL_FROM: 'no-reply@example.fr',
      ALLOWED_HOSTS: '127.0.0.1,localhost',
    });
    expect(await proc.exited, proc.output()).toBe(78);
    const out = proc.output();
    expect(out).toMatch(/SMTP_URL: the SMTP client would connect to "smtp\.gmail\.com"/);
    expect(out).toMatch(/S3_ENDPOINT: the S3 storage client would connect to "s3\.outside\.example"/);
    expect(out).toMatch(/MISTRAL_SERVER_URL: the Mistral \(minutes\) client would connect to "api\.mistral\.ai"/);
    expect(out).not.toMatch(/STT_BASE_URL:/);
  });

  it('the same services, allowed, start (the API with its real Redis, LiveKit and MinIO)', async () => {
    const port = await freeTcpPort();
    const proc = spawnApi({ ...services, S3_BUCKET: 'residency', STT_BASE_URL: 'http://127.0.0.1:9/v1', API_PORT: String(port), ALLOWED_HOSTS: '127.0.0.1' });
    try {
      let ok = false;
      for (let i = 0; i < 300 && !ok && proc.child.exitCode === null; i++) {
        ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ok, proc.output()).toBe(true);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });
});

describe('redirects are not followed to a host nobody checked', () => {
  let elsewhere: ReplayServer;
  let reachedElsewhere = 0;
  const redirecting: ReplayServer[] = [];

  beforeAll(async () => {
    elsewhere = await startReplayServer({ provider: 'openai', cassettes: ['fixtures/cassettes/comite-projet.json'], onRequest: () => reachedElsewhere++ });
  });

  afterAll(async () => {
    await Promise.all([elsewhere, ...redirecting].map((s) => s?.close()));
  });

  it('speech-to-text: a 307 to another host fails naming STT_BASE_URL, and no audio reaches that host', async () => {
    // "localhost" is another host name than the configured 127.0.0.1, as a foreign service would be.
    const target = `${elsewhere.url.replace('127.0.0.1', 'localhost')}/v1/audio/transcriptions`;
    const stt = await startReplayServer({
      provider: 'openai',
      cassettes: ['fixtures/cassettes/comite-projet.json'],
      faults: [{ route: 'openai.transcriptions', status: 307, redirectTo: target }],
    });
    redirecting.push(stt);
    const service = createSpeechToText(
      { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${stt.url}/v1`, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 1, STT_TIMEOUT_MS: 5_000 },
      { retry: { maxAttempts: 1 } },
    );
    const audio = { samples: new Int16Array(16_000).map((_, i) => Math.round(8000 * Math.sin(i / 5))), sampleRate: 16_000, channels: 1 };
    const before = reachedElsewhere;
    await expect(service.transcribe({ audio, language: 'fr' })).rejects.toThrow(/STT_BASE_URL: the endpoint answered 307 redirecting to host "localhost:\d+"/);
    expect(stt.stats().faults['openai.transcriptions']).toBe(1);
    expect(reachedElsewhere - before).toBe(0);
  });

  it('minutes: Mistral answering 308 to another host fails naming MISTRAL_SERVER_URL, once, and the transcript goes nowhere else', async () => {
    const mistral = await startReplayServer({
      provider: 'mistral',
      cassettes: ['fixtures/cassettes/minutes-comite-projet.json'],
      faults: [{ route: 'mistral.chat', status: 308, redirectTo: `${elsewhere.url.replace('127.0.0.1', 'localhost')}/v1/chat/completions` }],
    });
    redirecting.push(mistral);
    const chat = createMistralChat({
      apiKey: 'test-key',
      model: 'mistral-medium-2508',
      serverURL: mistral.url,
      backoff: { initialInterval: 10, maxInterval: 10, exponent: 1, maxElapsedTime: 500 },
    });
    const before = reachedElsewhere;
    await expect(chat({ messages: [{ role: 'user', content: 'Transcript: Alice: bonjour' }], purpose: 'minutes' })).rejects.toThrow(/MISTRAL_SERVER_URL: the endpoint answered 308/);
    expect(mistral.stats().faults['mistral.chat']).toBe(1);
    expect(reachedElsewhere - before).toBe(0);
  });
});
