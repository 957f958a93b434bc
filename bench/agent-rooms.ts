/**
 * The agent side of the agent benchmark, in a process of its own so that its CPU and memory are
 * the agent's alone (the bots, the replay server and the coordinator live in bench/agent.bench.ts).
 *
 * It runs the worker's own per-room code (MeetingTranscriber + UtteranceProcessor + captions, on
 * real LiveKit, Redis and MinIO) for several rooms in one process, which is what a job process
 * would do if it held several rooms, and reports:
 *   - the VAD-loaded process before any room (what every job process costs at rest);
 *   - CPU seconds (this process and its ffmpeg children) between the coordinator's marks;
 *   - resident memory sampled every 250 ms;
 *   - the largest VAD backlog (keeping up with real time or not);
 *   - per caption: speech-to-text time and the rest of the delay from cut to caption sent.
 *
 * Protocol (IPC): ← {join} → {joined} ; ← {mark} ; ← {end} → {report}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Room } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { z } from 'zod';
import { sendCaption } from '../src/agent/captions.js';
import type { InterimStats } from '../src/agent/interim-captions.js';
import { MeetingTranscriber } from '../src/agent/meeting-transcriber.js';
import { serverMetadataPermission } from '../src/agent/recipient-trust.js';
import { SequenceCounter } from '../src/agent/sequence-counter.js';
import { SileroVad, type SpeechModel } from '../src/agent/silero-vad.js';
import { UtteranceProcessor } from '../src/agent/utterance-processor.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logging.js';
import { MeetingStore } from '../src/meeting/meeting-store.js';
import { MeetingQueues } from '../src/pipelines/queues/producers.js';
import { createRedisConnection } from '../src/meeting/redis-connection.js';
import { createSpeechToText } from '../src/pipelines/stt/index.js';
import { createS3Client } from '../src/storage/s3-client.js';
import { procStatFields } from './proc-stat.js';

export const RoomsInput = z.object({ rooms: z.array(z.object({ room: z.string(), meetingId: z.string() })).min(1) });

export interface CaptionTiming {
  meetingId: string;
  segmentId: string;
  identity: string;
  sttMs: number;
  /** Cut → caption sent, minus speech-to-text. */
  overheadMs: number;
  /** Wall clock (Date.now()) of the speech start and end the VAD detected, and of the caption sent. */
  speechStartWallMs: number;
  speechEndWallMs: number;
  captionSentWallMs: number;
}

/** An interim caption the agent published (INTERIM_CAPTIONS=true): its segment and where its audio ended. */
export interface InterimTiming {
  meetingId: string;
  segmentId: string;
  identity: string;
  /** Wall clock (Date.now()) of the end of the audio it was recognised from. */
  audioEndWallMs: number;
}

export interface AgentRoomsReport {
  rooms: number;
  restRssMb: number;
  peakRssMb: number;
  cpuSeconds: number;
  childCpuSeconds: number;
  markedSeconds: number;
  maxVadBacklogMs: number;
  /** Share of VAD windows the silence gate kept from the model. */
  gatedShare: number | null;
  timings: CaptionTiming[];
  deferred: number;
  /** Final speech-to-text calls (captioned or not, deferred included). */
  finalCalls: number;
  /** With INTERIM_CAPTIONS=true: the interims published, and what they cost (calls, seconds sent, drops). */
  interims: InterimTiming[];
  interimStats: InterimStats | null;
}

export type ToAgent = { type: 'join' } | { type: 'mark' } | { type: 'end' };
export type FromAgent = { type: 'joined' } | { type: 'report'; report: AgentRoomsReport };

const CLOCK_TICKS = 100;
/** CPU of reaped children (ffmpeg encodes), from /proc/self/stat (cutime + cstime). */
function childCpuSeconds(): number {
  const fields = procStatFields('self');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}
const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const rssMb = () => process.memoryUsage().rss / 2 ** 20;
const send = (m: FromAgent) => process.send?.(m);

/**
 * BENCH_VAD=none: every track is received, decoded, resampled and cut into windows as usual but no
 * VAD runs, so the run measures what receiving audio from LiveKit costs by itself (the floor under
 * the agent's CPU). BENCH_VAD=nogate: the model scores every window, quiet or not.
 */
function speechModel(): Promise<SpeechModel> {
  if (process.env.BENCH_VAD === 'none') return Promise.resolve({ scorer: () => ({ score: () => Promise.resolve(0) }) });
  return SileroVad.load(process.env.BENCH_VAD === 'nogate' ? { quietDbfs: -Infinity } : {});
}

const { rooms } = RoomsInput.parse(JSON.parse(process.env.BENCH_ROOMS ?? '{}'));
const config = loadConfig('worker');
const logger = createLogger('agent', 'warn');
const vad = await speechModel();
const redis = createRedisConnection(config.REDIS_URL);
const store = new MeetingStore(redis, { retentionDays: config.RETENTION_DAYS });
const roomService = new RoomServiceClient(config.LIVEKIT_URL, config.LIVEKIT_API_KEY, config.LIVEKIT_API_SECRET);
const queues = new MeetingQueues(redis);
const s3 = createS3Client(config);
// One speech-to-text client per process, as in a job process: STT_CONCURRENCY is per process.
const stt = createSpeechToText(config, { logger });
await sleep(1000);
global.gc?.();
const restRssMb = rssMb();

const timings: CaptionTiming[] = [];
const interims: InterimTiming[] = [];
const transcribers: { transcriber: MeetingTranscriber; room: Room; processor: UtteranceProcessor }[] = [];
let sampler: NodeJS.Timeout | undefined;
const samples: number[] = [];
let maxVadBacklogMs = 0;
let mark: { cpu: number; child: number; at: number } | null = null;

async function join(): Promise<void> {
  for (const [i, r] of rooms.entries()) {
    const token = new AccessToken(config.LIVEKIT_API_KEY, config.LIVEKIT_API_SECRET, { identity: `bench-agent-${i}`, name: 'Transcription', ttl: '2h' });
    token.kind = 'agent';
    token.addGrant({ roomJoin: true, room: r.room, agent: true, canPublish: false, canSubscribe: true, canPublishData: true, canUpdateOwnMetadata: true });
    const room = new Room();
    await room.connect(config.LIVEKIT_URL, await token.toJwt(), { autoSubscribe: false, dynacast: false });
    await store.create({ meetingId: r.meetingId, room: r.room, language: 'fr', requester: null, glossary: [] });
    const wallMs = Date.now();
    await store.update(r.meetingId, (m) => ({ ...m, status: 'active', startedAt: new Date(wallMs).toISOString() }));
    const clockZero = { wallMs, perf: performance.now() };
    const processor = new UtteranceProcessor({
      meetingId: r.meetingId,
      language: 'fr',
      stt,
      queues,
      s3,
      bucket: config.S3_BUCKET,
      prefix: config.S3_PREFIX,
      retentionDays: config.RETENTION_DAYS,
      liveDeadlineMs: config.STT_TIMEOUT_MS,
      logger,
      captions: (u, text) => sendCaption(room, u, text),
      onTiming: (u, t) =>
        timings.push({
          meetingId: r.meetingId,
          segmentId: u.segmentId,
          identity: u.participant.identity,
          sttMs: t.sttMs,
          overheadMs: t.overheadMs,
          speechStartWallMs: clockZero.wallMs + u.startMs,
          speechEndWallMs: clockZero.wallMs + u.endMs,
          captionSentWallMs: Date.now(),
        }),
    });
    const transcriber = new MeetingTranscriber({
      room,
      meetingId: r.meetingId,
      language: 'fr',
      clockZero,
      vad,
      processor,
      sequences: new SequenceCounter(redis, r.meetingId, store.ttlSeconds),
      store,
      queues,
      maxUtteranceMs: config.MAX_UTTERANCE_SECONDS * 1000,
      sentencePauses: config.CAPTION_SENTENCE_PAUSES,
      ...(config.INTERIM_CAPTIONS
        ? {
            interim: {
              stt,
              send: (target, text) => sendCaption(room, target, text, false),
              onShown: (x) => interims.push({ meetingId: r.meetingId, segmentId: x.segmentId, identity: x.identity, audioEndWallMs: clockZero.wallMs + x.endMs }),
            },
          }
        : {}),
      maxMeetingMs: config.MAX_MEETING_MINUTES * 60_000,
      noHumanTimeoutMs: 10 * 60_000,
      mayRewriteAttributes: serverMetadataPermission(roomService, r.room),
      recipientSigningKey: config.RECIPIENT_SIGNING_KEY,
      logger,
    });
    await transcriber.start();
    transcribers.push({ transcriber, room, processor });
  }
  send({ type: 'joined' });
}

function startMark(): void {
  mark = { cpu: ownCpuSeconds(), child: childCpuSeconds(), at: performance.now() };
  sampler = setInterval(() => {
    samples.push(rssMb());
    for (const t of transcribers) maxVadBacklogMs = Math.max(maxVadBacklogMs, t.transcriber.vadBacklogMs);
  }, 250);
}

async function end(): Promise<void> {
  if (!mark) throw new Error('end before mark');
  clearInterval(sampler);
  const cpuSeconds = ownCpuSeconds() - mark.cpu;
  const childCpu = childCpuSeconds() - mark.child;
  const markedSeconds = (performance.now() - mark.at) / 1000;
  await Promise.all(transcribers.map((t) => t.transcriber.end('host_stop')));
  const stats = transcribers.map((t) => t.processor.stats);
  await Promise.all(transcribers.map((t) => t.room.disconnect()));
  send({
    type: 'report',
    report: {
      rooms: rooms.length,
      restRssMb,
      peakRssMb: Math.max(...samples),
      cpuSeconds,
      childCpuSeconds: childCpu,
      markedSeconds,
      maxVadBacklogMs,
      gatedShare: vad instanceof SileroVad ? vad.counts.gatedWindows / Math.max(1, vad.counts.gatedWindows + vad.counts.modelRuns) : null,
      timings,
      deferred: stats.reduce((a, s) => a + s.deferred, 0),
      finalCalls: stats.reduce((a, s) => a + s.live + s.deferred, 0),
      interims,
      interimStats: config.INTERIM_CAPTIONS ? sumStats(transcribers.map((t) => t.transcriber.interimStats)) : null,
    },
  });
  await queues.close();
  redis.disconnect();
  setTimeout(() => process.exit(0), 500);
}

function sumStats(all: InterimStats[]): InterimStats {
  const sum: InterimStats = { calls: 0, seconds: 0, shown: 0, droppedInFlight: 0, droppedBusy: 0, stale: 0, failed: 0 };
  for (const x of all) for (const k of Object.keys(sum) as (keyof InterimStats)[]) sum[k] += x[k];
  return sum;
}

process.on('message', (m: ToAgent) => {
  const run = m.type === 'join' ? join() : m.type === 'mark' ? Promise.resolve(startMark()) : end();
  run.catch((e: unknown) => {
    console.error('agent-rooms failed:', e);
    process.exit(1);
  });
});
