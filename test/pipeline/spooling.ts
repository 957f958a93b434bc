/**
 * The agent's utterance processor as a meeting's agent builds it, with speech-to-text at a replay
 * server tried once: told to answer 503, every utterance given to it ends in the spool (its audio
 * in S3, a deferred job). Shared by the tests of what spooling writes and leaves behind.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { UtteranceProcessor, type ProcessorOptions, type Utterance } from '../../src/agent/utterance-processor.js';
import { createLogger, type Logger } from '../../src/logging.js';
import { segmentId } from '../../src/meeting/segment.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';

export function spoolingProcessor(o: {
  meetingId: string;
  /** The replay server's origin (without /v1). */
  sttUrl: string;
  queues: ProcessorOptions['queues'];
  s3: S3Client;
  bucket: string;
  retentionDays: number;
  logger?: Logger;
}): UtteranceProcessor {
  return new UtteranceProcessor({
    meetingId: o.meetingId,
    language: 'fr',
    stt: createSpeechToText(
      { STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${o.sttUrl}/v1`, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 2, STT_TIMEOUT_MS: 5_000 },
      { retry: { maxAttempts: 1 } },
    ),
    queues: o.queues,
    s3: o.s3,
    bucket: o.bucket,
    prefix: 'meetings/',
    retentionDays: o.retentionDays,
    captions: async () => undefined,
    liveDeadlineMs: 5_000,
    logger: o.logger ?? createLogger('test', 'silent'),
  });
}

/** Alice's utterance `sequence` (2 s apart): one second of a 440 Hz tone, what matters being that it cannot be transcribed now. */
export function toneUtterance(sequence: number): Utterance {
  const samples = Int16Array.from({ length: 16_000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16_000)));
  return {
    participant: { identity: 'alice', name: 'Alice' },
    trackSid: 'TR_x',
    sequence,
    segmentId: segmentId('alice', sequence),
    startMs: sequence * 2000,
    endMs: sequence * 2000 + 1000,
    startedAt: new Date().toISOString(),
    audio: { samples, sampleRate: 16_000, channels: 1 },
    cutAt: performance.now(),
  };
}
