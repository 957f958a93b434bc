/**
 * All pipeline workers of one process (`meeting-agent pipeline`): one worker per queue, each with
 * its own concurrency and rate limit, so a slow Mistral never holds up speech-to-text or email.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { MeetingStore } from '../../meeting/meeting-store.js';
import type { MeetingArtifacts } from '../../storage/meeting-artifacts.js';
import type { Mailer, SentMarkers } from '../email/mailer.js';
import type { MinutesOptions } from '../meeting-outputs.js';
import type { SpeechToText } from '../stt/types.js';
import { startDeferredSttWorker } from './deferred-stt-worker.js';
import { startEmailWorker } from './email-worker.js';
import { createLogger } from '../../logging.js';
import { DEFAULT_FINALIZE_TIMING, startFinalizeWorker, type FinalizeTiming } from './finalize-worker.js';
import { expireMeetingJobs } from './meeting-jobs.js';
import { closeQueues, openAllQueues } from './queues.js';
import { startSegmentWorker } from './segment-worker.js';
import { closeWorkers, DEFAULT_CRASH_SAFETY, type CrashSafety } from './worker-runtime.js';

export interface PipelineDeps {
  connection: Redis;
  store: MeetingStore;
  s3: S3Client;
  bucket: string;
  artifacts: MeetingArtifacts;
  /** Null: this process does not run deferred speech-to-text. */
  stt: SpeechToText | null;
  sttConcurrency: number;
  minutes: MinutesOptions;
  mailer: Mailer;
  sent: SentMarkers;
}

export interface PipelineOptions {
  crash?: CrashSafety;
  finalize?: FinalizeTiming;
}

export interface RunningPipeline {
  workers: Worker[];
  emailQueue: Queue;
  /** Graceful stop: active jobs get until the deadline, then are left to stalled-job recovery. */
  close(deadlineMs?: number): Promise<boolean>;
}

const log = createLogger('pipeline-workers');

export function startPipelineWorkers(deps: PipelineDeps, options: PipelineOptions = {}): RunningPipeline {
  const crash = options.crash ?? DEFAULT_CRASH_SAFETY;
  const { connection } = deps;
  const queues = openAllQueues(connection);
  const { email: emailQueue, segments: segmentsQueue, deferredStt: deferredSttQueue } = queues;
  const workers: Worker[] = [
    startSegmentWorker(connection, deps.store, crash),
    startFinalizeWorker(
      connection,
      {
        store: deps.store,
        artifacts: deps.artifacts,
        minutes: deps.minutes,
        segmentsQueue,
        deferredSttQueue,
        emailQueue,
        expireQueueRecords: async (meetingId) => {
          await expireMeetingJobs(connection, queues, meetingId, deps.store.ttlSeconds);
        },
      },
      crash,
      options.finalize ?? DEFAULT_FINALIZE_TIMING,
    ),
    startEmailWorker(connection, { store: deps.store, artifacts: deps.artifacts, mailer: deps.mailer, sent: deps.sent }, crash),
  ];
  if (deps.stt) workers.push(startDeferredSttWorker(connection, { store: deps.store, s3: deps.s3, bucket: deps.bucket, stt: deps.stt }, crash, deps.sttConcurrency));
  for (const worker of workers) {
    // Operators must see that an attempt failed and why (error class and status, never job data:
    // a job carries transcript text and addresses).
    worker.on('failed', (job, err) => {
      if (err.name === 'DelayedError') return;
      const status = (err as { statusCode?: number; status?: number }).statusCode ?? (err as { status?: number }).status;
      log.warn({ queue: worker.name, jobId: job?.id, attempt: job?.attemptsMade, err, status }, 'job attempt failed');
    });
  }
  return {
    workers,
    emailQueue,
    async close(deadlineMs = 25_000) {
      const inTime = await closeWorkers(workers, deadlineMs);
      await closeQueues(queues);
      return inTime;
    },
  };
}
