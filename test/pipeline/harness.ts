/**
 * A pipeline on the real local services (Redis, MinIO, an SMTP receiver) with Mistral replayed by
 * the replay server through the real SDK. Each harness uses its own Redis database and bucket, so
 * test files running in parallel never take each other's jobs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import { inject } from 'vitest';
import { startSmtpReceiver, type SmtpReceiver, type SmtpReceiverOptions } from '../../src/local/smtp-receiver.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { createMailer, SentMarkers, type Mailer } from '../../src/pipelines/email/mailer.js';
import type { MinutesOptions } from '../../src/pipelines/meeting-outputs.js';
import { createMistralChat } from '../../src/pipelines/minutes/mistral-chat.js';
import { TokenEstimator } from '../../src/pipelines/minutes/token-estimate.js';
import { startPipelineWorkers, type PipelineDeps, type RunningPipeline } from '../../src/pipelines/queues/pipeline-workers.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import type { CrashSafety } from '../../src/pipelines/queues/worker-runtime.js';
import type { FinalizeTiming } from '../../src/pipelines/queues/finalize-worker.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import type { FaultRuleInput } from '../../src/replay/faults.js';
import { ensureBucket, MeetingArtifacts } from '../../src/storage/meeting-artifacts.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { LONG_MEETING_BUDGET, MODEL, segmentCountsOf, segmentsFor, type SyntheticMeeting } from './meeting-fixtures.js';

export const FAST_CRASH: CrashSafety = { lockDurationMs: 2_000, stalledIntervalMs: 1_000, maxStalledCount: 2 };
export const FAST_FINALIZE: FinalizeTiming = { pollMs: 200, waitCapMs: 4_000, agentReportCapMs: 4_000 };
export const FAST_BACKOFF = { initialInterval: 100, maxInterval: 400, exponent: 1.5, maxElapsedTime: 20_000 };

/** Polls `check` every 50 ms until it holds; fails naming `what` after the timeout. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface HarnessOptions {
  cassettes: string[];
  faults?: FaultRuleInput[];
  /** Redis database index (0-15) private to the test file. */
  db: number;
  /** Redis URL when not the shared one (e.g. a persistent Redis to restart). */
  redisUrl?: string;
  startWorkers?: boolean;
  tokenBudget?: number;
  /** How the SMTP receiver answers (e.g. recipients it refuses). */
  smtp?: SmtpReceiverOptions;
}

export interface Harness {
  redisUrl: string;
  connection: Redis;
  store: MeetingStore;
  queues: MeetingQueues;
  s3: S3Client;
  bucket: string;
  artifacts: MeetingArtifacts;
  smtp: SmtpReceiver;
  mistral: ReplayServer;
  mailer: Mailer;
  deps: PipelineDeps;
  pipeline: RunningPipeline | null;
  startWorkers(): RunningPipeline;
  /** Stores the meeting and its participants and queues its segments as the agent does. */
  seedMeeting(meetingId: string, meeting: SyntheticMeeting, extra?: { requesterEmail?: string; extraRecipients?: string[] }): Promise<{ counts: Record<string, number> }>;
  waitForStatus(meetingId: string, status: 'done' | 'failed', timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function minutesOptionsFor(mistralUrl: string, tokenBudget = LONG_MEETING_BUDGET): MinutesOptions {
  return {
    chat: createMistralChat({ apiKey: 'test-key', model: MODEL, serverURL: mistralUrl, backoff: FAST_BACKOFF }),
    model: MODEL,
    tokenBudget,
    estimator: new TokenEstimator(),
  };
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  const env = inject('services');
  const redisUrl = `${opts.redisUrl ?? env.REDIS_URL}/${opts.db}`;
  const connection = createRedisConnection(redisUrl);
  await connection.flushdb();
  const s3 = createS3Client({ S3_ENDPOINT: env.S3_ENDPOINT, S3_REGION: env.S3_REGION, S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY });
  const bucket = `pipeline-${randomBytes(4).toString('hex')}`;
  await ensureBucket(s3, bucket);
  const artifacts = new MeetingArtifacts(s3, { bucket, prefix: 'meetings/', retentionDays: 30, linkExpiryHours: 168 });
  const smtp = await startSmtpReceiver(opts.smtp);
  const mistral = await startReplayServer({ provider: 'mistral', cassettes: opts.cassettes, faults: opts.faults ?? [] });
  const mailer = createMailer(smtp.url, 'Comptes rendus <no-reply@mairie-exemple.fr>');
  const store = new MeetingStore(connection, { retentionDays: 30 });
  const deps: PipelineDeps = {
    connection,
    store,
    s3,
    bucket,
    artifacts,
    stt: null,
    sttConcurrency: 2,
    minutes: minutesOptionsFor(mistral.url, opts.tokenBudget),
    mailer,
    sent: new SentMarkers(connection, 3600),
  };
  const queues = new MeetingQueues(connection);
  const h: Harness = {
    redisUrl,
    connection,
    store,
    queues,
    s3,
    bucket,
    artifacts,
    smtp,
    mistral,
    mailer,
    deps,
    pipeline: null,
    startWorkers() {
      h.pipeline = startPipelineWorkers(deps, { crash: FAST_CRASH, finalize: FAST_FINALIZE });
      return h.pipeline;
    },
    async seedMeeting(meetingId, meeting, extra = {}) {
      await store.create({
        meetingId,
        room: `room-${meetingId}`,
        language: meeting.language,
        requester: extra.requesterEmail ? { identity: 'host', email: extra.requesterEmail } : null,
        glossary: [],
        extraRecipients: extra.extraRecipients ?? [],
        status: 'active',
      });
      await store.update(meetingId, (m) => ({ ...m, startedAt: '2025-12-01T09:00:00.000Z' }));
      for (const p of meeting.participants) await store.upsertParticipant(meetingId, p);
      const segments = segmentsFor(meetingId, meeting);
      for (const s of segments) await queues.addSegment(s);
      return { counts: segmentCountsOf(segments) };
    },
    async waitForStatus(meetingId, status, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const info = await store.get(meetingId);
        if (info?.status === status) return;
        if (info?.status === 'failed' && status !== 'failed') throw new Error(`meeting ${meetingId} failed: ${info.failure}`);
        if (Date.now() > deadline) throw new Error(`meeting ${meetingId} is ${info?.status}, not ${status}, after ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    async close() {
      await h.pipeline?.close(5_000);
      await queues.close();
      mailer.close();
      await mistral.close();
      await smtp.close();
      connection.disconnect();
    },
  };
  if (opts.startWorkers !== false) h.startWorkers();
  return h;
}
