/**
 * The in-process worker's load as LiveKit's dispatcher sees it (UpdateWorkerStatus every 2.5 s, as
 * @livekit/agents does): LiveKit sends a room only to a worker whose status is AVAILABLE, and
 * prefers the one with the lowest load (pkg/service/agentservice.go: weight 1 − load).
 *
 * Load: the larger of the CPU this process and its children (ffmpeg encodes) used over the last
 * interval, as a share of the machine's cores (worker-load.ts), and the share of its room slots in
 * use. Full: at `maxRooms`, or the CPU at or above the threshold, or a room's VAD more than
 * `maxVadBacklogMs` behind real time (the process no longer keeps up: the figure the agent
 * benchmark uses for "keeps up"), or draining. A full worker still runs its rooms; it only takes
 * no new one.
 */
import { WorkerMessage, WorkerStatus } from '@livekit/protocol';
import type { Logger } from '../../logging.js';

/** @livekit/agents 1.9 (worker.js, UPDATE_LOAD_INTERVAL). */
export const LOAD_REPORT_INTERVAL_MS = 2_500;

export interface LoadFigures {
  /** CPU of the process and its children over the last interval, share of the machine (0..1). */
  cpu: number;
  rooms: number;
  maxRooms: number;
  /** Largest VAD backlog of any microphone of any room, ms of audio. */
  vadBacklogMs: number;
  draining: boolean;
}

export interface LoadLimits {
  /** CPU share (0..1) at which the worker says it is full. */
  cpuThreshold: number;
  maxVadBacklogMs: number;
}

export interface WorkerLoad {
  load: number;
  full: boolean;
  /** Why it is full (for the log), or null. */
  reason: 'draining' | 'rooms' | 'cpu' | 'vad_backlog' | null;
}

/** The status to report for these figures. */
export function workerLoad(f: LoadFigures, limits: LoadLimits): WorkerLoad {
  const load = Math.min(1, Math.max(0, f.cpu, f.maxRooms > 0 ? f.rooms / f.maxRooms : 1));
  const reason = f.draining
    ? 'draining'
    : f.rooms >= f.maxRooms
      ? 'rooms'
      : f.cpu >= limits.cpuThreshold
        ? 'cpu'
        : f.vadBacklogMs > limits.maxVadBacklogMs
          ? 'vad_backlog'
          : null;
  return { load, full: reason !== null, reason };
}

export interface LoadReporterOptions {
  limits: LoadLimits;
  /** CPU share since the previous call (createWorkerLoad()). */
  measureCpu: () => Promise<number>;
  figures: () => Omit<LoadFigures, 'cpu'>;
  send: (message: WorkerMessage) => boolean;
  logger: Logger;
}

export class LoadReporter {
  readonly #o: LoadReporterOptions;
  #last: WorkerLoad = { load: 0, full: false, reason: null };
  #cpu = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LoadReporterOptions) {
    this.#o = options;
  }

  /** Whether CPU and VAD backlog leave room for one more room (as of the last measure). */
  hasHeadroom(): boolean {
    return this.#last.reason !== 'cpu' && this.#last.reason !== 'vad_backlog';
  }

  get last(): WorkerLoad {
    return this.#last;
  }

  start(): void {
    this.#timer = setInterval(() => void this.report(), LOAD_REPORT_INTERVAL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Measures, sends UpdateWorkerStatus, logs a change of status. `measure: false` reuses the last CPU figure (status changes between intervals). */
  async report(measure = true): Promise<WorkerLoad> {
    if (measure) this.#cpu = await this.#o.measureCpu().catch(() => this.#cpu);
    const figures = { ...this.#o.figures(), cpu: this.#cpu };
    const now = workerLoad(figures, this.#o.limits);
    if (now.full !== this.#last.full || (now.full && now.reason !== this.#last.reason)) {
      this.#o.logger.info(
        { load: Number(now.load.toFixed(2)), cpu: Number(figures.cpu.toFixed(2)), rooms: figures.rooms, maxRooms: figures.maxRooms, vadBacklogMs: Math.round(figures.vadBacklogMs), reason: now.reason },
        now.full ? 'worker full: taking no new room' : 'worker available',
      );
    }
    this.#last = now;
    this.#o.send(
      new WorkerMessage({
        message: { case: 'updateWorker', value: { status: now.full ? WorkerStatus.WS_FULL : WorkerStatus.WS_AVAILABLE, load: now.load, jobCount: figures.rooms } },
      }),
    );
    return now;
  }
}
