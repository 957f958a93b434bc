/**
 * `meeting-agent worker`: registers with LiveKit under AGENT_NAME and transcribes the rooms it is
 * explicitly dispatched to (no automatic dispatch). WORKER_EXECUTOR picks how rooms run:
 * `process` (default): each dispatch in a job process of its own (@livekit/agents 1.9 has only a
 * process executor); `in-process`: several rooms in this process, each in its own error boundary,
 * the worker speaking LiveKit's agent protocol itself (worker-protocol/in-process-worker.ts).
 */
import { AgentServer, InferenceRunner, initializeLogger, ServerOptions, version as agentsVersion, WorkerPermissions } from '@livekit/agents';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { loadCheckedConfig } from '../pipelines/residency.js';
import { createLogger } from '../logging.js';
import { createWorkerLoad } from './worker-load.js';
import { runInProcessWorker } from './worker-protocol/in-process-worker.js';

/** Subscribe and send data (captions, chat, attributes); never publish media. */
const PERMISSIONS = { canPublish: false, canSubscribe: true, canPublishData: true, canUpdateMetadata: true };

/** Settings for a small machine (2 cores): see src/agent/README.md. */
export const WORKER_LOAD = {
  /** Refuse new rooms above this share of the cores used by the worker and its rooms (see worker-load.ts). */
  loadThreshold: 0.75,
  /** One warm job process (VAD model loaded) waits for the next dispatch: joins in about a second. */
  numIdleProcesses: 1,
  /** A job process above this is reported in the logs (the worker's processes share the machine). */
  jobMemoryWarnMB: 400,
  /**
   * A new job process loads the VAD model and the pipeline modules (about 3 s of CPU); on a busy
   * small machine that takes longer than the framework's 10 s, and a process killed at the
   * deadline is simply started again, so the room waited for nothing.
   */
  initializeProcessTimeout: 60_000,
} as const;

export function jobModulePath(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./job${extname(self)}`, import.meta.url));
}

/**
 * @livekit/agents 1.9 registers its local end-of-turn model whenever the native binding is
 * installed, and then runs a shared inference process beside the worker (about 350 MB and seconds
 * of CPU at start). A transcriber detects no turns: keep the registry empty so that process never
 * starts. (No other inference runner is used here.)
 */
function withoutInferenceRunners(): void {
  InferenceRunner.registeredRunners = new Proxy({} as Record<string, string>, { set: () => true });
}

export function createAgentServer(config: Config, overrides: Partial<ConstructorParameters<typeof ServerOptions>[0]> = {}): AgentServer {
  withoutInferenceRunners();
  return new AgentServer(
    new ServerOptions({
      agent: jobModulePath(),
      agentName: config.AGENT_NAME,
      wsURL: config.LIVEKIT_URL,
      apiKey: config.LIVEKIT_API_KEY,
      apiSecret: config.LIVEKIT_API_SECRET,
      ...WORKER_LOAD,
      loadFunc: createWorkerLoad(),
      permissions: new WorkerPermissions(PERMISSIONS.canPublish, PERMISSIONS.canSubscribe, PERMISSIONS.canPublishData, PERMISSIONS.canUpdateMetadata, [], false),
      logLevel: config.LOG_LEVEL === 'silent' ? 'fatal' : config.LOG_LEVEL,
      // The framework's health server listens on every interface (and a random port outside its
      // "production" mode); it names the agent and its job count: loopback unless configured.
      host: config.HEALTH_HOST,
      port: config.HEALTH_PORT,
      ...overrides,
    }),
  );
}

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('Usage: meeting-agent worker\n\nJoins LiveKit rooms when dispatched (agent name AGENT_NAME) and transcribes them live.\n');
    return;
  }
  const config = await loadCheckedConfig('worker');
  initializeLogger({ pretty: false, level: config.LOG_LEVEL === 'silent' ? 'fatal' : config.LOG_LEVEL });
  const logger = createLogger('worker', config.LOG_LEVEL);
  if (config.WORKER_EXECUTOR === 'in-process') {
    await runInProcessWorker(config, logger, { cpuThreshold: WORKER_LOAD.loadThreshold, permissions: PERMISSIONS, version: `${agentsVersion}+meeting-agent` });
    return;
  }
  const server = createAgentServer(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: finishing the rooms in progress');
    void server
      .drain()
      .catch((e: unknown) => logger.warn({ err: e }, 'drain timed out'))
      .finally(() => void server.close());
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  logger.info({ agentName: config.AGENT_NAME }, 'worker starting');
  await server.run();
}
