import { describe, expect, it } from 'vitest';
import { VALID_SETTINGS } from '../test/settings-env.js';
import { ConfigError, loadConfig } from './config.js';

const valid = VALID_SETTINGS;

function problemsOf(env: NodeJS.ProcessEnv, role: Parameters<typeof loadConfig>[0] = 'pipeline'): ConfigError {
  try {
    loadConfig(role, env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('accepts a complete environment and applies the documented defaults', () => {
    const config = loadConfig('pipeline', valid);
    expect(config.STT_LANGUAGE).toBe('fr');
    expect(config.STT_PROVIDER).toBe('openai-compatible');
    expect(config.MISTRAL_SERVER_URL).toBe('https://api.eu.mistral.ai');
    expect(config.RETENTION_DAYS).toBe(30);
    expect(config.LINK_EXPIRY_HOURS).toBe(168);
    expect(config.AGENT_NAME).toBe('meeting-transcriber');
    expect(config.MAX_UTTERANCE_SECONDS).toBe(30);
  });

  it('lists every missing and malformed value in one message with how to fix it', () => {
    const err = problemsOf({
      ...valid,
      REDIS_URL: undefined,
      MAIL_FROM: '',
      STT_BASE_URL: 'stt.hebergeur.fr',
      STT_LANGUAGE: 'french',
      RETENTION_DAYS: 'thirty',
    });
    expect(err.problems).toHaveLength(5);
    expect(err.message).toContain('5 problems');
    expect(err.message).toMatch(/REDIS_URL is missing\..*Example: REDIS_URL=redis:\/\//);
    expect(err.message).toMatch(/MAIL_FROM is missing/);
    expect(err.message).toMatch(/STT_BASE_URL "stt.hebergeur.fr" is invalid: must be a URL starting with http:\/\/ or https:\/\//);
    expect(err.message).toMatch(/STT_LANGUAGE "french" is invalid: must be a two-letter ISO 639-1 code/);
    expect(err.message).toMatch(/RETENTION_DAYS "thirty" is invalid/);
  });

  it('publishes interim captions only when INTERIM_CAPTIONS is true (off by default), and names a wrong value', () => {
    expect(loadConfig('worker', valid).INTERIM_CAPTIONS).toBe(false);
    expect(loadConfig('worker', { ...valid, INTERIM_CAPTIONS: 'true' }).INTERIM_CAPTIONS).toBe(true);
    expect(loadConfig('worker', { ...valid, INTERIM_CAPTIONS: 'false' }).INTERIM_CAPTIONS).toBe(false);
    expect(problemsOf({ ...valid, INTERIM_CAPTIONS: '1' }, 'worker').message).toMatch(/INTERIM_CAPTIONS "1" is invalid: must be true or false/);
  });

  it('cuts live utterances at sentence pauses unless CAPTION_SENTENCE_PAUSES is false (on by default), and names a wrong value', () => {
    expect(loadConfig('worker', valid).CAPTION_SENTENCE_PAUSES).toBe(true);
    expect(loadConfig('worker', { ...valid, CAPTION_SENTENCE_PAUSES: 'true' }).CAPTION_SENTENCE_PAUSES).toBe(true);
    expect(loadConfig('worker', { ...valid, CAPTION_SENTENCE_PAUSES: 'false' }).CAPTION_SENTENCE_PAUSES).toBe(false);
    expect(problemsOf({ ...valid, CAPTION_SENTENCE_PAUSES: 'yes' }, 'worker').message).toMatch(/CAPTION_SENTENCE_PAUSES "yes" is invalid: must be true or false/);
  });

  it('defaults the speech-to-text model to one the chosen provider knows', () => {
    expect(loadConfig('worker', valid).STT_MODEL).toBe('whisper-large-v3');
    expect(loadConfig('worker', { ...valid, STT_PROVIDER: 'mistral' }).STT_MODEL).toBe('voxtral-mini-2507');
    expect(loadConfig('worker', { ...valid, STT_PROVIDER: 'mistral', STT_MODEL: 'voxtral-small-2507' }).STT_MODEL).toBe('voxtral-small-2507');
  });

  it('only requires what the role needs', () => {
    const workerEnv = { ...valid, MISTRAL_API_KEY: undefined, SMTP_URL: undefined, MAIL_FROM: undefined };
    expect(() => loadConfig('worker', workerEnv)).not.toThrow();
    expect(problemsOf(workerEnv, 'pipeline').problems.map((p) => p.split(' ')[0])).toEqual([
      'MISTRAL_API_KEY',
      'SMTP_URL',
      'MAIL_FROM',
    ]);
  });

  it('never repeats a secret value, even a malformed one', () => {
    const err = problemsOf({ ...valid, SMTP_URL: 'mailer:smtp-password@smtp.mairie.fr', REDIS_URL: 'http://:redispass@x' });
    expect(err.problems).toHaveLength(2);
    for (const secret of ['smtp-password', 'redispass', 'mistral-secret-key', 'stt-secret-key', 'minio-secret-value']) {
      expect(err.message).not.toContain(secret);
    }
    expect(err.message).toContain('SMTP_URL (value hidden) is invalid');
  });

  it('reads TRUSTED_PROXIES as addresses and ranges for fastify, and names a wrong entry', () => {
    expect(loadConfig('api', { ...valid, TRUSTED_PROXIES: '10.0.0.0/8, 192.168.1.7 ,fd00::/8,loopback' }).TRUSTED_PROXIES).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
      'loopback',
    ]);
    expect(loadConfig('api', valid).TRUSTED_PROXIES).toBeUndefined();
    for (const wrong of ['10.0.0.0/33', 'lb.internal', '*', '10.0.0.1/8/8']) {
      expect(problemsOf({ ...valid, TRUSTED_PROXIES: wrong }, 'api').message).toContain('TRUSTED_PROXIES');
    }
  });

  it('refuses a service key short enough to be guessed, without echoing it', () => {
    const err = problemsOf({ ...valid, API_SERVICE_KEYS: `${'k'.repeat(40)},short-key` }, 'api');
    expect(err.message).toContain('API_SERVICE_KEYS (value hidden) is invalid: each key must be at least 32 characters long');
    expect(err.message).not.toContain('short-key');
  });
});
