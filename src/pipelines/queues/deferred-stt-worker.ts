/**
 * stt-deferred: utterances whose audio the agent spooled to S3 because speech-to-text failed live.
 * Load the FLAC, transcribe, store the segment (deferred=true), then delete the spooled audio.
 * Each step is idempotent, so a retry after a crash at any point ends in the same state.
 */
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createLogger } from '../../logging.js';
import type { MeetingStore } from '../../meeting/meeting-store.js';
import { decodeToPcm } from '../audio/ffmpeg.js';
import type { SpeechToText } from '../stt/types.js';
import { TranscriptSegmentSchema, type TranscriptSegment } from '../../meeting/segment.js';
import { DeferredSttJobSchema, QUEUE } from './queues.js';
import { crashSafeOptions, type CrashSafety } from './worker-runtime.js';

const log = createLogger('deferred-stt-worker');

export interface DeferredSttDeps {
  store: MeetingStore;
  s3: S3Client;
  bucket: string;
  stt: SpeechToText;
}

async function readObject(s3: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
  } catch (e) {
    if ((e as { name?: string }).name === 'NoSuchKey') return null;
    throw e;
  }
}

export async function transcribeDeferred(deps: DeferredSttDeps, job: Pick<Job, 'data' | 'id'>): Promise<{ stored: boolean; segmentId: string }> {
  const data = DeferredSttJobSchema.parse(job.data);
  const existing = (await deps.store.segments(data.meetingId)).some((s) => s.segmentId === data.segmentId);
  if (!existing) {
    const flac = await readObject(deps.s3, deps.bucket, data.audioKey);
    if (flac === null) {
      // Neither segment nor audio: the meeting was erased meanwhile (or the spool lost). Nothing to retry.
      throw new UnrecoverableError(`spooled audio of segment ${data.segmentId} is gone`);
    }
    const t0 = performance.now();
    const audio = await decodeToPcm(flac, { sampleRate: 16_000, channels: 1 });
    const result = await deps.stt.transcribe({ audio, language: data.language, ...(data.prompt ? { prompt: data.prompt } : {}) });
    const segment: TranscriptSegment = TranscriptSegmentSchema.parse({
      meetingId: data.meetingId,
      segmentId: data.segmentId,
      participant: data.participant,
      sequence: data.sequence,
      trackSid: data.trackSid,
      startMs: data.startMs,
      endMs: data.endMs,
      startedAt: data.startedAt,
      text: result.text,
      language: result.language,
      confidence: result.confidence,
      provider: result.provider,
      model: result.model,
      filtered: result.filtered,
      deferred: true,
    });
    await deps.store.addSegment(segment);
    log.info({ jobId: job.id, meetingId: data.meetingId, segmentId: data.segmentId, audioMs: result.durationMs, ms: Math.round(performance.now() - t0) }, 'deferred utterance transcribed');
  }
  // The audio is no longer needed once the text is stored (and must not outlive it: erasure).
  await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: data.audioKey }));
  return { stored: !existing, segmentId: data.segmentId };
}

export function startDeferredSttWorker(connection: Redis, deps: DeferredSttDeps, crash: CrashSafety, concurrency: number): Worker {
  return new Worker(QUEUE.deferredStt, (job) => transcribeDeferred(deps, job), {
    connection,
    concurrency,
    // Its own rate limit: a backlog after an outage must not hammer the recovering service.
    limiter: { max: concurrency * 2, duration: 1000 },
    ...crashSafeOptions(crash),
  });
}
