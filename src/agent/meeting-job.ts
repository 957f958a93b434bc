/**
 * Wires one dispatch to its meeting: parse the dispatch metadata, create or continue the meeting in
 * the store, claim the room, join, transcribe, and end exactly once whatever stops it (stop request,
 * removal from the room, last human gone, maximum duration, job shutdown).
 */
import type { Room } from '@livekit/rtc-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { RoomServiceClient } from 'livekit-server-sdk';
import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../logging.js';
import { MeetingStore, type MeetingInfo } from '../meeting/meeting-store.js';
import { MeetingQueues } from '../pipelines/queues/producers.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { createSpeechToText, type SpeechToTextService } from '../pipelines/stt/index.js';
import { createS3Client } from '../storage/s3-client.js';
import { meetingIdFor, parseDispatchMetadata, promptFromGlossary, type DispatchMetadata } from '../meeting/dispatch-metadata.js';
import { sendCaption } from './captions.js';
import { MeetingTranscriber } from './meeting-transcriber.js';
import { serverMetadataPermission } from './recipient-trust.js';
import { SequenceCounter } from './sequence-counter.js';
import type { SpeechModel } from './silero-vad.js';
import { watchStop } from '../meeting/stop-signal.js';
import { UtteranceProcessor } from './utterance-processor.js';

/**
 * What a meeting job needs from the executor that runs it: the dispatch, the room, and how to end
 * the job. @livekit/agents' JobContext (one job process per room) and the in-process executor's
 * RoomJob (several rooms per process, src/agent/worker-protocol/room-job.ts) both provide it.
 */
export interface MeetingJobContext {
  readonly job: { readonly id: string; readonly metadata: string; readonly dispatchId: string; readonly room?: { readonly name: string; readonly sid: string } | undefined };
  readonly room: Room;
  addShutdownCallback(callback: () => Promise<void>): void;
  shutdown(reason?: string): void;
  /** The in-process executor reads the room's VAD backlog for its load report. */
  transcribing?(transcriber: MeetingTranscriber): void;
}

/**
 * Fixed costs a process loads once and shares between its rooms: the Silero model (one ONNX
 * session), and optionally one speech-to-text client (its connection pool and concurrency limit
 * are then per process, not per room), one S3 client and one logger. Unset ones are made per
 * room (the process executor has one room per process anyway).
 */
export interface SharedResources {
  vad: SpeechModel;
  stt?: SpeechToTextService;
  s3?: S3Client;
  logger?: Logger;
}

/** Shutdown reasons of a job that did not do its work (the in-process executor reports them to LiveKit as failed). */
const FAILED = { invalidMetadata: 'invalid dispatch metadata', startFailed: 'start failed' } as const;
export const FAILED_JOB_REASONS: ReadonlySet<string> = new Set(Object.values(FAILED));

export async function runMeetingJob(ctx: MeetingJobContext, shared: SharedResources, connect: () => Promise<void>): Promise<void> {
  const config = loadConfig('worker');
  const logger = (shared.logger ?? createLogger('agent', config.LOG_LEVEL)).child({ jobId: ctx.job.id });
  let metadata: DispatchMetadata;
  try {
    metadata = parseDispatchMetadata(ctx.job.metadata);
  } catch (e) {
    logger.error({ err: e }, 'dispatch refused');
    ctx.shutdown(FAILED.invalidMetadata);
    return;
  }
  const room = ctx.job.room?.name ?? ctx.room.name ?? '';
  const meetingId = meetingIdFor(metadata, ctx.job.dispatchId);
  const log = logger.child({ meetingId });

  const redis = createRedisConnection(config.REDIS_URL);
  const subscriber = createRedisConnection(config.REDIS_URL);
  const store = new MeetingStore(redis, { retentionDays: config.RETENTION_DAYS });
  const queues = new MeetingQueues(redis);
  let stopWatch: (() => Promise<void>) | undefined;
  const cleanup = async () => {
    await stopWatch?.().catch(() => undefined);
    await queues.close().catch(() => undefined);
    redis.disconnect();
    subscriber.disconnect();
  };

  try {
    const held = await store.claimRoom(room, meetingId, async (holder) => {
      // A claim left by an ended meeting is taken over.
      const other = await store.get(holder);
      return !other || Boolean(other.endedAt);
    });
    if (held !== meetingId) {
      log.warn({ heldBy: held }, 'the room is already transcribed for another meeting; leaving');
      await cleanup();
      ctx.shutdown('room already transcribed');
      return;
    }
    const created = await store.create({
      meetingId,
      room,
      // The room instance this job was dispatched to (a meeting the API started already has it).
      roomSid: ctx.job.room?.sid || null,
      language: metadata.language ?? config.STT_LANGUAGE,
      requester: metadata.requester ? { identity: metadata.requester.identity ?? null, email: metadata.requester.email ?? null } : null,
      glossary: metadata.glossary ?? [],
    });
    if (created.endedAt) {
      log.warn('this meeting has already ended; leaving');
      await cleanup();
      ctx.shutdown('meeting already ended');
      return;
    }

    await connect();
    const info = await store.update(meetingId, (m) => ({ ...m, status: 'active', room: m.room ?? room, startedAt: m.startedAt ?? new Date().toISOString() }));
    await transcribe(ctx, { config, log, shared, store, queues, redis, subscriber, info, meetingId, room, setStopWatch: (w) => (stopWatch = w), cleanup });
  } catch (e) {
    log.error({ err: e }, 'could not start transcribing');
    await cleanup();
    ctx.shutdown(FAILED.startFailed);
  }
}

interface TranscribeDeps {
  config: Config;
  log: Logger;
  shared: SharedResources;
  store: MeetingStore;
  queues: MeetingQueues;
  redis: ReturnType<typeof createRedisConnection>;
  subscriber: ReturnType<typeof createRedisConnection>;
  info: MeetingInfo;
  meetingId: string;
  room: string;
  setStopWatch: (w: () => Promise<void>) => void;
  cleanup: () => Promise<void>;
}

async function transcribe(ctx: MeetingJobContext, d: TranscribeDeps): Promise<void> {
  const { config, log, info, meetingId } = d;
  const lkRoom = ctx.room;
  const startedAtMs = Date.parse(info.startedAt ?? new Date().toISOString());
  const clockZero = { wallMs: startedAtMs, perf: performance.now() - (Date.now() - startedAtMs) };
  const prompt = promptFromGlossary(info.glossary);

  const stt = d.shared.stt ?? createSpeechToText(config, { logger: log });
  const processor = new UtteranceProcessor({
    meetingId,
    language: info.language,
    ...(prompt ? { prompt } : {}),
    stt,
    queues: d.queues,
    s3: d.shared.s3 ?? createS3Client(config),
    bucket: config.S3_BUCKET,
    prefix: config.S3_PREFIX,
    retentionDays: config.RETENTION_DAYS,
    liveDeadlineMs: config.STT_TIMEOUT_MS,
    logger: log,
    captions: (u, text) => sendCaption(lkRoom, u, text),
  });

  const transcriber = new MeetingTranscriber({
    room: lkRoom,
    meetingId,
    language: info.language,
    clockZero,
    vad: d.shared.vad,
    processor,
    sequences: new SequenceCounter(d.redis, meetingId, d.store.ttlSeconds),
    store: d.store,
    queues: d.queues,
    maxUtteranceMs: config.MAX_UTTERANCE_SECONDS * 1000,
    sentencePauses: config.CAPTION_SENTENCE_PAUSES,
    ...(config.INTERIM_CAPTIONS ? { interim: { stt, ...(prompt ? { prompt } : {}), send: (target, text) => sendCaption(lkRoom, target, text, false) } } : {}),
    maxMeetingMs: config.MAX_MEETING_MINUTES * 60_000,
    mayRewriteAttributes: serverMetadataPermission(new RoomServiceClient(config.LIVEKIT_URL, config.LIVEKIT_API_KEY, config.LIVEKIT_API_SECRET, { requestTimeout: 5 }), d.room),
    recipientSigningKey: config.RECIPIENT_SIGNING_KEY,
    logger: log,
    onEnded: (reason) => {
      void d.store
        .releaseRoom(d.room, meetingId)
        .catch(() => undefined)
        .then(d.cleanup)
        .finally(() => ctx.shutdown(`meeting ended: ${reason}`));
    },
  });
  // The job process may be told to shut down (dispatch deleted, worker stopping) or lose the room:
  // finish the meeting before the process exits.
  ctx.addShutdownCallback(async () => {
    await transcriber.end(transcriber.shutdownReason()).catch((e: unknown) => log.error({ err: e }, 'ending failed'));
  });
  ctx.transcribing?.(transcriber);
  d.setStopWatch(await watchStop(d.redis, d.subscriber, meetingId, () => void transcriber.end('host_stop')));
  await transcriber.start();
}
