/**
 * `meeting-agent worker` with WORKER_EXECUTOR=in-process: one process registers with LiveKit and
 * hosts up to WORKER_MAX_ROOMS rooms itself, instead of @livekit/agents' job process per room
 * (its only executor in Node 1.9: ~230 MB per room before any audio, see BENCHMARKS.md).
 *
 * Loaded once and shared by every room: the Silero model (one ONNX session), the speech-to-text
 * client (one connection pool; one limit for the process, STT_CONCURRENCY × WORKER_MAX_ROOMS), the
 * S3 client and the logger. Each room runs the same job code as the process executor (`runMeetingJob`) inside its
 * own error boundary (room-job.ts).
 *
 * SIGTERM (or SIGINT): status full at once, no new room, every room runs to its own end (at most
 * DRAIN_TIMEOUT_MS, then the rest are ended and finalised), then the process exits. A second signal
 * ends every room now (each meeting still finalised once).
 */
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { dispose } from '@livekit/rtc-node';
import type { Config } from '../../config.js';
import { createLogger, type Logger } from '../../logging.js';
import { createSpeechToText } from '../../pipelines/stt/index.js';
import { createS3Client } from '../../storage/s3-client.js';
import { runMeetingJob } from '../meeting-job.js';
import { SileroVad } from '../silero-vad.js';
import { createWorkerLoad } from '../worker-load.js';
import { WorkerConnection } from './connection.js';
import { LoadReporter } from './load-report.js';
import { RoomHost } from './room-host.js';

/** As @livekit/agents' drainTimeout: a meeting in progress gets an hour to end by itself. */
export const DRAIN_TIMEOUT_MS = 60 * 60_000;
/** A room falling this far behind real time makes the worker take no new room (the agent benchmark's "keeps up"). */
export const MAX_VAD_BACKLOG_MS = 1_000;

/**
 * Default WORKER_MAX_ROOMS: 4 rooms per core. On this 2-core machine a room of 4 microphones costs
 * about 0.1 core in a shared process (92-98 s of CPU per speaker-hour, BENCHMARKS.md), so 8 rooms
 * of 4 stay under the CPU threshold with margin for larger meetings; the CPU and VAD-backlog checks
 * stop dispatches earlier when the rooms are bigger.
 */
export const defaultMaxRooms = (): number => 4 * availableParallelism();

export interface InProcessWorkerOptions {
  cpuThreshold: number;
  /** What the job participants may do. */
  permissions: { canPublish: boolean; canSubscribe: boolean; canPublishData: boolean; canUpdateMetadata: boolean };
  version: string;
}

export async function runInProcessWorker(config: Config, logger: Logger, options: InProcessWorkerOptions): Promise<void> {
  const maxRooms = config.WORKER_MAX_ROOMS ?? defaultMaxRooms();
  const shared = {
    vad: await SileroVad.load(),
    // One client for every room; its limit keeps each room's share of a job process
    // (STT_CONCURRENCY per room), so captions wait no longer than with a process per room.
    stt: createSpeechToText({ ...config, STT_CONCURRENCY: config.STT_CONCURRENCY * maxRooms }, { logger }),
    s3: createS3Client(config),
    logger: createLogger('agent', config.LOG_LEVEL),
  };
  // The three parts call each other only once the worker runs (closures over the later consts).
  const send = (m: Parameters<WorkerConnection['send']>[0]) => connection.send(m);
  const host: RoomHost = new RoomHost({
    maxRooms,
    hasHeadroom: (): boolean => reporter.hasHeadroom(),
    entry: (job) => runMeetingJob(job, shared, () => job.connect()),
    send,
    url: config.LIVEKIT_URL,
    logger,
  });
  const reporter: LoadReporter = new LoadReporter({
    limits: { cpuThreshold: options.cpuThreshold, maxVadBacklogMs: MAX_VAD_BACKLOG_MS },
    measureCpu: createWorkerLoad(),
    figures: () => ({ rooms: host.rooms, maxRooms, draining: host.draining, vadBacklogMs: Math.max(0, ...host.runningJobs.map((j) => j.vadBacklogMs)) }),
    send,
    logger,
  });
  const connection: WorkerConnection = new WorkerConnection({
    url: config.LIVEKIT_URL,
    apiKey: config.LIVEKIT_API_KEY,
    apiSecret: config.LIVEKIT_API_SECRET,
    agentName: config.AGENT_NAME,
    permissions: options.permissions,
    version: options.version,
    logger,
    onMessage: (m) => host.handle(m),
    // A new registration starts as available: say at once if this process is full.
    onRegistered: () => void reporter.report(false),
  });
  const health = await serveHealth(config, () => connection.connected, () => ({ rooms: host.rooms, maxRooms, draining: host.draining }));

  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      signals++;
      if (signals === 1) {
        logger.info({ signal, rooms: host.rooms }, 'draining: finishing the rooms in progress, taking no new one');
        void host.drain(DRAIN_TIMEOUT_MS).then(resolve);
        void reporter.report(false);
      } else {
        logger.warn({ signal, rooms: host.rooms }, 'second signal: ending every room now');
        void host.endAll('worker stopping').then(resolve);
      }
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });
  logger.info({ agentName: config.AGENT_NAME, executor: 'in-process', maxRooms }, 'worker starting');
  reporter.start();
  let failure: unknown = null;
  const running = connection.run().catch((e: unknown) => {
    failure = e;
  });
  await Promise.race([stopped, running]);
  // The server lost for good: end the rooms (their meetings are finalised) before exiting.
  if (host.rooms > 0) await host.endAll('worker stopping');
  reporter.stop();
  connection.close();
  host.close();
  await new Promise((r) => health.close(r));
  await running;
  await dispose().catch(() => undefined);
  if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
  logger.info('worker stopped');
}

/** GET / → 200 while registered with LiveKit, 503 otherwise (the image's HEALTHCHECK); /worker → rooms. */
async function serveHealth(config: Config, healthy: () => boolean, info: () => Record<string, unknown>): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503).end(ok ? 'OK' : 'not connected to LiveKit');
    } else if (req.url === '/worker') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ agent_name: config.AGENT_NAME, ...info() }));
    } else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.HEALTH_PORT, config.HEALTH_HOST, () => resolve());
  });
  return server;
}
