/**
 * No lost work: a pipeline worker process killed in the middle of a meeting's finalisation (here,
 * while it waits for Mistral), and a Redis restart with queued work. The meeting is still
 * finalised once, and every participant gets one email.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../src/local/redis-server.js';
import { startHarness, until, type Harness } from './harness.js';
import { fixtureMeeting, loadFixtureScript } from './meeting-fixtures.js';

const script = loadFixtureScript();
let h: Harness | undefined;
let child: ChildProcess | undefined;
let redis: RedisServer | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await h?.close();
  await redis?.stop();
  h = undefined;
  child = undefined;
  redis = undefined;
});

describe('pipeline crash safety', () => {
  it('a worker killed mid-finalisation: another worker resumes the job and the meeting is finalised once', async () => {
    // The first minutes call hangs for 5 s: long enough to kill the worker waiting on it.
    h = await startHarness({ db: 10, cassettes: ['fixtures/cassettes/minutes-comite-projet.json'], startWorkers: false, faults: [{ route: 'mistral.chat', latencyMs: 5000, times: 1 }] });
    const env = inject('services');
    child = spawn(process.execPath, ['--import', 'tsx', 'test/pipeline/worker-child.ts'], {
      env: { ...process.env, ...env, CHILD_REDIS_URL: h.redisUrl, CHILD_BUCKET: h.bucket, CHILD_MISTRAL_URL: h.mistral.url, CHILD_SMTP_URL: h.smtp.url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until('child ready', () => out.includes('ready'), 30_000);

    const id = 'comite-projet-crash';
    const { counts } = await h.seedMeeting(id, fixtureMeeting());
    await h.queues.endMeeting(h.store, id, 'room_finished', counts);
    await until('the child to call Mistral', () => (h?.mistral.stats().calls['mistral.chat'] ?? 0) >= 1);
    expect((await h.store.get(id))?.status).toBe('finalising');
    child.kill('SIGKILL');
    await new Promise<void>((r) => child?.once('exit', () => r()));

    h.startWorkers();
    await h.waitForStatus(id, 'done', 30_000);
    await h.smtp.waitFor(4);
    await new Promise((r) => setTimeout(r, 800));
    expect(h.smtp.messages.map((m) => m.envelopeTo[0]).sort()).toEqual(script.participants.map((p) => p.email).sort());
    expect(h.mistral.stats().calls['mistral.chat']).toBe(2); // the killed call, and the one that finished
    expect(await h.artifacts.manifest(id)).not.toBeNull();
  });

  it('queued segments and the end of the meeting survive a Redis restart', async () => {
    redis = await startRedisServer({ workDir: mkdtempSync(join(tmpdir(), 'redis-restart-')), persistent: true });
    h = await startHarness({ db: 1, redisUrl: redis.url, cassettes: ['fixtures/cassettes/minutes-comite-projet.json'], startWorkers: false });
    const id = 'comite-projet-redis-restart';
    const { counts } = await h.seedMeeting(id, fixtureMeeting());
    await h.queues.endMeeting(h.store, id, 'room_finished', counts);
    await redis.process.kill();
    redis = await redis.restart();
    h.startWorkers();
    await h.waitForStatus(id, 'done', 30_000);
    expect((await h.store.segments(id)).length).toBe(script.utterances.length);
    await h.smtp.waitFor(4);
  });
});
