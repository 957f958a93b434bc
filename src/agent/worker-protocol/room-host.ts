/**
 * The in-process executor's side of the agent worker protocol: which dispatches this process takes
 * (AvailabilityRequest → AvailabilityResponse), starting a room when LiveKit confirms
 * (JobAssignment), ending one when LiveKit asks (JobTermination), and reporting how each ended
 * (UpdateJobStatus). Up to `maxRooms` rooms run side by side in this process, each a RoomJob inside
 * its own error boundary (room-job.ts); the process-wide handlers installed here route an escaped
 * exception to the room it came from.
 *
 * Draining (SIGTERM): no new room is accepted; the rooms in progress run to their own end; after
 * `drainTimeoutMs` the ones still running are ended (each meeting finalised once) and the host
 * resolves.
 */
import { JobStatus, WorkerMessage, type AvailabilityRequest, type JobAssignment, type ServerMessage } from '@livekit/protocol';
import type { Logger } from '../../logging.js';
import { RoomJob, jobOfCurrentContext, type JobOutcome } from './room-job.js';

/** @livekit/agents 1.9 (worker.js): how long an accepted job waits for its assignment. */
const ASSIGNMENT_TIMEOUT_MS = 7_500;

export interface RoomHostOptions {
  /** Rooms this process hosts at most (WORKER_MAX_ROOMS). */
  maxRooms: number;
  /** Whether the process may take one more room now (CPU, VAD backlog: load-report.ts). */
  hasHeadroom: () => boolean;
  /** The job's entry: runs the meeting in the room (runMeetingJob). */
  entry: (job: RoomJob) => Promise<void>;
  send: (message: WorkerMessage) => boolean;
  /** LiveKit URL, used when an assignment names none. */
  url: string;
  logger: Logger;
  /** Longest time a room's meeting may take to finalise when its job ends (default 60 s, as @livekit/agents). */
  shutdownTimeoutMs?: number;
}

export class RoomHost {
  readonly #o: RoomHostOptions;
  readonly #log: Logger;
  readonly #jobs = new Map<string, RoomJob>();
  /** Accepted jobs waiting for their assignment: they count against the capacity. */
  readonly #pending = new Map<string, (a: JobAssignment | null) => void>();
  #draining = false;
  readonly #uninstall: () => void;

  constructor(options: RoomHostOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#uninstall = this.#installBoundary();
  }

  /** Rooms running, plus those accepted and not yet assigned. */
  get rooms(): number {
    return this.#jobs.size + this.#pending.size;
  }

  get runningJobs(): readonly RoomJob[] {
    return [...this.#jobs.values()];
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Whether one more room fits: not draining, under `maxRooms`, and the load allows it. */
  get full(): boolean {
    return this.#draining || this.rooms >= this.#o.maxRooms || !this.#o.hasHeadroom();
  }

  /** Every server message after registration. */
  handle(message: ServerMessage): void {
    switch (message.message.case) {
      case 'availability':
        this.#availability(message.message.value);
        break;
      case 'assignment': {
        const assignment = message.message.value;
        const id = assignment.job?.id ?? '';
        const waiting = this.#pending.get(id);
        if (waiting) waiting(assignment);
        else this.#log.warn({ jobId: id }, 'assignment for a job this worker is not waiting for; ignored');
        break;
      }
      case 'termination': {
        const job = this.#jobs.get(message.message.value.jobId);
        job?.shutdown('terminated by LiveKit');
        break;
      }
      default:
        break; // pong and others
    }
  }

  /** Stops taking rooms, waits for the running ones to end (at most `timeoutMs`), then ends the rest. */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    // Rooms accepted before the drain still start (LiveKit already counts them as ours).
    while (this.#pending.size > 0) await new Promise((r) => setTimeout(r, 100));
    const all = () => Promise.all([...this.#jobs.values()].map((j) => j.done));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      this.#log.warn({ rooms: this.#jobs.size }, 'drain timed out: ending the rooms still running');
      await this.endAll('worker stopping');
    }
  }

  /** Ends every running room now (each meeting finalised once) and waits for them. */
  async endAll(reason: string): Promise<void> {
    this.#draining = true;
    for (const job of this.#jobs.values()) job.shutdown(reason);
    await Promise.all([...this.#jobs.values()].map((j) => j.done));
  }

  close(): void {
    this.#uninstall();
  }

  #availability(request: AvailabilityRequest): void {
    const job = request.job;
    if (!job) return;
    const log = this.#log.child({ jobId: job.id });
    if (this.full) {
      log.info({ rooms: this.rooms, maxRooms: this.#o.maxRooms, draining: this.#draining }, 'declining a room: this worker is full or draining');
      this.#o.send(new WorkerMessage({ message: { case: 'availability', value: { jobId: job.id, available: false } } }));
      return;
    }
    const assigned = new Promise<JobAssignment | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ASSIGNMENT_TIMEOUT_MS);
      this.#pending.set(job.id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
    });
    // As @livekit/agents' default: identity agent-<job id>; the server adds the agent-name attribute.
    this.#o.send(new WorkerMessage({ message: { case: 'availability', value: { jobId: job.id, available: true, participantIdentity: `agent-${job.id}` } } }));
    void assigned.then((assignment) => {
      this.#pending.delete(job.id);
      if (!assignment) {
        log.warn('no assignment came for an accepted room');
        return;
      }
      this.#launch(assignment.job ?? job, assignment.url || this.#o.url, assignment.token);
    });
  }

  #launch(job: NonNullable<AvailabilityRequest['job']>, url: string, token: string): void {
    const roomJob = new RoomJob({ job, url, token, logger: this.#log, shutdownTimeoutMs: this.#o.shutdownTimeoutMs ?? 60_000 });
    this.#jobs.set(job.id, roomJob);
    this.#log.info({ jobId: job.id, rooms: this.#jobs.size }, 'room job started');
    roomJob.start(this.#o.entry);
    void roomJob.done.then((outcome) => {
      this.#jobs.delete(job.id);
      this.#report(job.id, outcome);
    });
  }

  #report(jobId: string, outcome: JobOutcome): void {
    const sent = this.#o.send(
      new WorkerMessage({
        message: {
          case: 'updateJob',
          value: { jobId, status: outcome.status === 'success' ? JobStatus.JS_SUCCESS : JobStatus.JS_FAILED, error: outcome.status === 'failed' ? outcome.error : '' },
        },
      }),
    );
    if (!sent) this.#log.warn({ jobId }, 'job status not reported: the worker is reconnecting');
  }

  /**
   * Process-wide handlers for exceptions nobody caught: one raised in a room's work ends that room;
   * one outside any room (the worker's own code) is logged and the rooms go on.
   */
  #installBoundary(): () => void {
    const onError = (kind: string) => (error: unknown) => {
      const job = jobOfCurrentContext();
      if (job && this.#jobs.get(job.job.id) === job) {
        job.fail(error);
        return;
      }
      this.#log.error({ err: error, kind, jobId: job?.job.id }, 'uncaught error outside any running room; the rooms go on');
    };
    const uncaught = onError('exception');
    const unhandled = onError('rejection');
    process.on('uncaughtException', uncaught);
    process.on('unhandledRejection', unhandled);
    return () => {
      process.off('uncaughtException', uncaught);
      process.off('unhandledRejection', unhandled);
    };
  }
}
