/**
 * Runs the real agent worker (a child process, as in production: `meeting-agent worker`) against
 * the test LiveKit, Redis and MinIO, with a replay server standing in for speech-to-text; plus the
 * helpers the agent tests share (dispatch, segments from the queue, fixture script).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { ParticipantKind } from '@livekit/rtc-node';
import { AgentDispatchClient } from 'livekit-server-sdk';
import type { ServicesEnv } from '../global-setup.js';
import { joinAsListener, joinAsSpeaker, type ListenerBot, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { MeetingStore } from '../../src/meeting/meeting-store.js';
import { openQueue, QUEUE } from '../../src/pipelines/queues/queues.js';
import { createRedisConnection } from '../../src/meeting/redis-connection.js';
import { TranscriptSegmentSchema, type TranscriptSegment } from '../../src/meeting/segment.js';
import { createS3Client } from '../../src/storage/s3-client.js';

export const FIXTURE_DIR = 'fixtures/meetings/comite-projet';
export const FIXTURE_CASSETTE = 'fixtures/cassettes/comite-projet.json';

export interface FixtureScript {
  durationMs: number;
  participants: { identity: string; name: string; email: string; file: string; silent: boolean }[];
  utterances: {
    id: string;
    speaker: string;
    startMs: number;
    endMs: number;
    text: string;
    /** The utterance's sentences, each with its own span (joined by the script's sentence pause). */
    sentences: { startMs: number; endMs: number; text: string }[];
  }[];
}
export const fixtureScript = (): FixtureScript => JSON.parse(readFileSync(`${FIXTURE_DIR}/script.json`, 'utf8')) as FixtureScript;

export const httpUrl = (wsUrl: string) => wsUrl.replace(/^ws/, 'http');

export interface AgentWorker {
  agentName: string;
  bucket: string;
  env: Record<string, string>;
  /** The worker's and its job processes' log lines (JSON), for assertions about what is logged. */
  logs: string[];
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves with the exit code once the worker process has exited (by itself or stopped). */
  readonly exited: Promise<number | null>;
  /** Sends a signal to the worker process (SIGTERM: drain). */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface AgentWorkerOptions {
  /** Register under this agent name (default: a new unique one). */
  agentName?: string;
  /** Modules the worker process loads first (node --import), e.g. a fault injection. */
  preload?: string[];
}

/** Starts `meeting-agent worker` with a unique agent name and its own bucket; resolves once registered. */
export async function startAgentWorker(services: ServicesEnv, sttUrl: string, extraEnv: Record<string, string> = {}, options: AgentWorkerOptions = {}): Promise<AgentWorker> {
  const agentName = options.agentName ?? `test-agent-${randomUUID().slice(0, 8)}`;
  const bucket = `agent-test-${randomUUID().slice(0, 8)}`;
  await createS3Client(services).send(new CreateBucketCommand({ Bucket: bucket }));
  const env: Record<string, string> = {
    ...services,
    AGENT_NAME: agentName,
    S3_BUCKET: bucket,
    STT_PROVIDER: 'openai-compatible',
    STT_BASE_URL: `${sttUrl}/v1`,
    STT_MODEL: 'whisper-large-v3',
    STT_LANGUAGE: 'fr',
    LOG_LEVEL: 'info',
    HEALTH_PORT: '0', // several workers (and other runs) on one machine
    // WORKER_EXECUTOR=in-process npx vitest run test/agent/x.test.ts runs a file's worker with the in-process executor.
    ...(process.env.WORKER_EXECUTOR ? { WORKER_EXECUTOR: process.env.WORKER_EXECUTOR } : {}),
    ...extraEnv,
  };
  const preload = (options.preload ?? []).flatMap((m) => ['--import', m]);
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ...preload, 'src/cli.ts', 'worker'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ONNXRUNTIME_NODE_INSTALL: 'skip', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  // Kept for a post-mortem (ids, counts and timings only: the agent logs no meeting content).
  mkdirSync('.services/test/agent-logs', { recursive: true });
  const logFile = `.services/test/agent-logs/${agentName}.log`;
  const listeners = new Set<(line: string) => void>();
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      appendFileSync(logFile, `${line}\n`);
      logs.push(line);
      for (const l of listeners) l(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

  const waitForLog = (pattern: RegExp, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const found = logs.find((l) => pattern.test(l));
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms; last lines:\n${logs.slice(-15).join('\n')}`));
      }, timeoutMs);
      const check = (line: string) => {
        if (pattern.test(line)) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(line);
        }
      };
      listeners.add(check);
    });

  await waitForLog(/registered worker/, 30_000);
  return {
    agentName,
    bucket,
    env,
    logs,
    waitForLog,
    exited,
    signal: (signal) => void child.kill(signal),
    async stop() {
      if (process.env.AGENT_DIAG_DIR) await dumpBucket(services, bucket, `${process.env.AGENT_DIAG_DIR}/${agentName}`);
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export async function dispatchAgent(services: ServicesEnv, room: string, agentName: string, metadata: Record<string, unknown>): Promise<string> {
  const client = new AgentDispatchClient(httpUrl(services.LIVEKIT_URL), services.LIVEKIT_API_KEY, services.LIVEKIT_API_SECRET);
  const dispatch = await client.createDispatch(room, agentName, { metadata: JSON.stringify(metadata) });
  return dispatch.id;
}

export interface MeetingBots {
  /** An observer that publishes nothing: sees the agent's attributes and captions. */
  listener: ListenerBot;
  /** One per participant, in the script's order, joined and published but silent until play(). */
  speakers: SpeakerBot[];
}

/**
 * Joins a scripted meeting's bots to `room`: the observer, then one speaker per participant playing
 * `dir/<file>` for `durationMs` (its `email`, when given, in the token's attributes). All or
 * nothing: when one cannot join, those that did leave again and the error is thrown.
 */
export async function joinMeetingBots(
  services: ServicesEnv,
  room: string,
  participants: readonly { identity: string; name: string; file: string; email?: string }[],
  o: { dir: string; durationMs: number; canUpdateOwnMetadata?: boolean },
): Promise<MeetingBots> {
  const url = services.LIVEKIT_URL;
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const listener = await joinAsListener({ url, room, identity: 'observer', name: 'Observer', auth });
  const speakers: SpeakerBot[] = [];
  try {
    for (const p of participants) {
      speakers.push(
        await joinAsSpeaker({
          url,
          room,
          identity: p.identity,
          name: p.name,
          attributes: p.email ? { email: p.email } : {},
          ...(o.canUpdateOwnMetadata !== undefined ? { canUpdateOwnMetadata: o.canUpdateOwnMetadata } : {}),
          auth,
          file: `${o.dir}/${p.file}`,
          durationMs: o.durationMs,
          autoplay: false,
        }),
      );
    }
  } catch (e) {
    await Promise.all([...speakers, listener].map((b) => b.disconnect().catch(() => undefined)));
    throw e;
  }
  return { listener, speakers };
}

/** Waits (up to 30 s) until the observer sees the agent in the room with `transcription.state` active. */
export async function waitForActiveAgent(probe: QueueProbe, listener: ListenerBot): Promise<void> {
  await probe.waitFor(
    'the agent to be active',
    async () => [...listener.room.remoteParticipants.values()].find((p) => p.kind === ParticipantKind.AGENT),
    // Spelled as a front end would (not from livekit-contract.ts), so a rename there fails the test.
    (p) => p?.attributes['transcription.state'] === 'active',
    30_000,
  );
}

/** Reads what the agent queued for the pipeline (segments) and the meeting's state. */
export class QueueProbe {
  readonly redis;
  readonly store;
  readonly #segments;
  readonly #deferred;

  constructor(services: ServicesEnv) {
    this.redis = createRedisConnection(services.REDIS_URL);
    this.store = new MeetingStore(this.redis, { retentionDays: 30 });
    this.#segments = openQueue(QUEUE.segments, this.redis);
    this.#deferred = openQueue(QUEUE.deferredStt, this.redis);
  }

  async segments(meetingId: string): Promise<TranscriptSegment[]> {
    const jobs = await this.#segments.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    const mine = jobs.filter((j) => (j?.data as { meetingId?: string } | undefined)?.meetingId === meetingId);
    return mine.map((j) => TranscriptSegmentSchema.parse(j.data)).sort((a, b) => a.startMs - b.startMs);
  }

  async deferredJobs(meetingId: string): Promise<{ id: string; data: Record<string, unknown>; state: string }[]> {
    const jobs = await this.#deferred.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    const out = [];
    for (const j of jobs) {
      if ((j?.data as { meetingId?: string } | undefined)?.meetingId !== meetingId) continue;
      out.push({ id: j.id ?? '', data: j.data as Record<string, unknown>, state: await j.getState() });
    }
    return out;
  }

  async waitFor<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await get();
      if (ok(v)) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.#segments.close(), this.#deferred.close()]);
    this.redis.disconnect();
  }
}

/** Lower-case words without punctuation, for comparing transcripts. */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}' -]+/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

export { sleep };

async function dumpBucket(services: ServicesEnv, bucket: string, dir: string): Promise<void> {
  const { ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = createS3Client(services);
  const list = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  mkdirSync(dir, { recursive: true });
  const { writeFileSync } = await import('node:fs');
  for (const o of list.Contents ?? []) {
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray();
    writeFileSync(`${dir}/${o.Key!.replaceAll('/', '_')}`, body);
  }
}
