/**
 * The deferred speech-to-text worker on its own (real Redis, MinIO, ffmpeg; speech-to-text
 * replayed): an utterance the agent spooled while the service was down is transcribed once the
 * service answers again, stored once whatever is retried, and its audio does not outlive its text.
 */
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spoolKey } from '../../src/storage/meeting-artifacts.js';
import { decodeToPcm, encodePcm } from '../../src/pipelines/audio/ffmpeg.js';
import { startDeferredSttWorker, transcribeDeferred } from '../../src/pipelines/queues/deferred-stt-worker.js';
import { jobIds, openQueue, QUEUE, type DeferredSttJob } from '../../src/pipelines/queues/queues.js';
import { closeWorkers } from '../../src/pipelines/queues/worker-runtime.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { segmentId } from '../../src/meeting/segment.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, words } from '../agent/harness.js';
import { FAST_CRASH, startHarness, type Harness } from './harness.js';

const ROUTE = 'openai.transcriptions' as const;
const script = fixtureScript();
const utterance = script.utterances[0]!;
const speaker = script.participants.find((p) => p.identity === utterance.speaker)!;

describe('deferred speech-to-text worker', () => {
  let h: Harness;
  let stt: ReplayServer;
  let flac: Buffer;
  let queue: Queue;
  let worker: Worker | undefined;
  let n = 0;

  beforeAll(async () => {
    h = await startHarness({ db: 2, cassettes: [], startWorkers: false });
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    queue = openQueue(QUEUE.deferredStt, h.connection);
    // What the agent spools: the utterance with a short pre-roll and its closing silence, as FLAC.
    const audio = await decodeToPcm(`${FIXTURE_DIR}/${speaker.file}`, { sampleRate: 16_000, channels: 1, startMs: utterance.startMs - 300, durationMs: utterance.endMs - utterance.startMs + 600 });
    flac = await encodePcm(audio, 'flac');
  }, 60_000);

  afterAll(async () => {
    await queue?.close();
    await stt?.close();
    await h?.close();
  });

  beforeEach(async () => {
    if (worker) await closeWorkers([worker], 5_000);
    worker = undefined;
    stt.clearFaults();
  });

  /** One attempt per job run: the retries under test are BullMQ's, not the client's. */
  const speechToText = () =>
    createSpeechToText(
      { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${stt.url}/v1`, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 2, STT_TIMEOUT_MS: 10_000 },
      { retry: { maxAttempts: 1 } },
    );

  async function spool(): Promise<DeferredSttJob> {
    const meetingId = `deferred-${++n}-${Date.now()}`;
    const id = segmentId(speaker.identity, 0);
    const job: DeferredSttJob = {
      meetingId,
      segmentId: id,
      participant: { identity: speaker.identity, name: speaker.name },
      sequence: 0,
      trackSid: 'TR_test',
      startMs: utterance.startMs,
      endMs: utterance.endMs,
      startedAt: new Date(Date.parse('2025-12-01T09:00:00.000Z') + utterance.startMs).toISOString(),
      language: 'fr',
      prompt: null,
      audioKey: spoolKey('meetings/', meetingId, id),
    };
    await h.store.create({ meetingId, room: null, language: 'fr', requester: null, glossary: [], status: 'active' });
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: job.audioKey, Body: flac, ContentType: 'audio/flac' }));
    return job;
  }

  async function spoolExists(key: string): Promise<boolean> {
    try {
      await h.s3.send(new GetObjectCommand({ Bucket: h.bucket, Key: key }));
      return true;
    } catch {
      return false;
    }
  }

  async function settle(jobId: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await queue.getJobState(jobId);
      if (state === 'completed' || state === 'failed') return state;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still ${state} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('keeps retrying while the service answers 503, then stores the text once and deletes the audio', async () => {
    const job = await spool();
    stt.setFaults({ route: ROUTE, status: 503, times: 2 });
    worker = startDeferredSttWorker(h.connection.duplicate(), { store: h.store, s3: h.s3, bucket: h.bucket, stt: speechToText() }, FAST_CRASH, 2);
    await h.queues.addDeferredStt(job);
    const jobId = jobIds.deferredStt(job.meetingId, job.segmentId);
    expect(await settle(jobId, 30_000)).toBe('completed');

    expect((await queue.getJob(jobId))!.attemptsMade).toBe(3);
    const segments = await h.store.segments(job.meetingId);
    expect(segments).toHaveLength(1);
    expect(segments[0]).toMatchObject({ segmentId: job.segmentId, participant: job.participant, startMs: job.startMs, endMs: job.endMs, deferred: true, provider: 'openai-compatible' });
    expect(words(segments[0]!.text)).toEqual(words(utterance.text));
    expect(await spoolExists(job.audioKey)).toBe(false);
  });

  it('a job run again after a crash (text stored, audio not yet deleted) stores nothing twice and calls no one', async () => {
    const job = await spool();
    const deps = { store: h.store, s3: h.s3, bucket: h.bucket, stt: speechToText() };
    const before = stt.stats().calls[ROUTE] ?? 0;
    expect(await transcribeDeferred(deps, { id: 'a', data: job })).toEqual({ stored: true, segmentId: job.segmentId });
    // The process died between storing the text and deleting the audio: the audio is still there.
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: job.audioKey, Body: flac }));
    expect(await transcribeDeferred(deps, { id: 'a', data: job })).toEqual({ stored: false, segmentId: job.segmentId });

    expect((stt.stats().calls[ROUTE] ?? 0) - before).toBe(1);
    expect(await h.store.segments(job.meetingId)).toHaveLength(1);
    expect(await spoolExists(job.audioKey)).toBe(false);
  });

  it('an utterance whose audio is gone (the meeting was erased) fails at once, without retries, and stores nothing', async () => {
    const job = await spool();
    await h.s3.send(new DeleteObjectCommand({ Bucket: h.bucket, Key: job.audioKey }));
    worker = startDeferredSttWorker(h.connection.duplicate(), { store: h.store, s3: h.s3, bucket: h.bucket, stt: speechToText() }, FAST_CRASH, 2);
    await h.queues.addDeferredStt(job);
    const jobId = jobIds.deferredStt(job.meetingId, job.segmentId);
    expect(await settle(jobId, 15_000)).toBe('failed');
    const failed = (await queue.getJob(jobId))!;
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/spooled audio .* is gone/);
    expect(await h.store.segments(job.meetingId)).toHaveLength(0);
  });
});
