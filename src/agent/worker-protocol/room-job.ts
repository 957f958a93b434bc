/**
 * One dispatched room inside a process that hosts several: the job's context (the same interface
 * the process executor's JobContext gives `runMeetingJob`) and its error boundary.
 *
 * The boundary: everything the job does runs in an AsyncLocalStorage context naming it, the entry
 * function and every event of its own rtc Room (whose native callbacks would otherwise run outside
 * any context). An exception that escapes anywhere in that tree (a rejected promise nobody awaited,
 * a throw in a timer or a stream loop) is handed to `RoomJob.fail` by the process-wide handlers
 * (room-host.ts): that room alone is ended (its shutdown callbacks finalise the meeting once), its
 * connection closed, and the job reported failed; the other rooms never see it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Room } from '@livekit/rtc-node';
import type { Job } from '@livekit/protocol';
import type { Logger } from '../../logging.js';
import { FAILED_JOB_REASONS, type MeetingJobContext } from '../meeting-job.js';
import type { MeetingTranscriber } from '../meeting-transcriber.js';

/** How a job ended, as reported to LiveKit (UpdateJobStatus). */
export type JobOutcome = { status: 'success'; reason: string } | { status: 'failed'; reason: string; error: string };

/** The job whose code is running now (undefined outside any room's work). */
const currentJob = new AsyncLocalStorage<RoomJob>();
export const jobOfCurrentContext = (): RoomJob | undefined => currentJob.getStore();

export interface RoomJobOptions {
  job: Job;
  /** LiveKit URL and the agent participant's token, from the JobAssignment. */
  url: string;
  token: string;
  logger: Logger;
  /** Longest time the shutdown callbacks (finalising the meeting) may take before the room is left anyway. */
  shutdownTimeoutMs: number;
}

export class RoomJob implements MeetingJobContext {
  readonly job: Job;
  readonly room = new Room();
  readonly #o: RoomJobOptions;
  readonly #log: Logger;
  readonly #callbacks: (() => Promise<void>)[] = [];
  #transcriber: MeetingTranscriber | null = null;
  #ending: Promise<JobOutcome> | null = null;
  #resolveDone!: (o: JobOutcome) => void;
  /** Settles once, when the room is left and the meeting finalised (or the timeout passed). */
  readonly done = new Promise<JobOutcome>((r) => (this.#resolveDone = r));

  constructor(options: RoomJobOptions) {
    this.#o = options;
    this.job = options.job;
    this.#log = options.logger.child({ jobId: options.job.id });
    // The room's events come from native callbacks: run their handlers inside this job's context.
    const emit = this.room.emit.bind(this.room) as (...args: unknown[]) => boolean;
    (this.room as unknown as { emit: (...args: unknown[]) => boolean }).emit = (...args) => currentJob.run(this, () => emit(...args));
  }

  get ended(): boolean {
    return this.#ending !== null;
  }

  /** The largest VAD backlog of the room's microphones (ms of audio), 0 before transcribing. */
  get vadBacklogMs(): number {
    return this.#transcriber?.vadBacklogMs ?? 0;
  }

  /** Runs the job's entry inside its boundary; an entry that throws fails the job. */
  start(entry: (job: RoomJob) => Promise<void>): void {
    currentJob.run(this, () => {
      entry(this).catch((e: unknown) => this.fail(e));
    });
  }

  /** Joins the room: auto-subscribe off (the transcriber subscribes to microphones itself). */
  async connect(): Promise<void> {
    await this.room.connect(this.#o.url, this.#o.token, { autoSubscribe: false, dynacast: false });
  }

  addShutdownCallback(callback: () => Promise<void>): void {
    this.#callbacks.push(callback);
  }

  transcribing(transcriber: MeetingTranscriber): void {
    this.#transcriber = transcriber;
  }

  /** Ends the job (once): a failure only for the reasons meeting-job.ts names so. */
  shutdown(reason = ''): void {
    void this.#end(FAILED_JOB_REASONS.has(reason) ? { status: 'failed', reason, error: reason } : { status: 'success', reason });
  }

  /** The room's code threw where nobody caught it: end this room alone, reported as failed. */
  fail(error: unknown): void {
    const message = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error).slice(0, 300);
    this.#log.error({ err: error }, 'the room failed; ending its job (the other rooms go on)');
    void this.#end({ status: 'failed', reason: 'room failed', error: message });
  }

  #end(outcome: JobOutcome): Promise<JobOutcome> {
    this.#ending ??= this.#finish(outcome);
    return this.#ending;
  }

  async #finish(outcome: JobOutcome): Promise<JobOutcome> {
    const callbacks = (async () => {
      for (const cb of this.#callbacks) await cb().catch((e: unknown) => this.#log.error({ err: e }, 'shutdown callback failed'));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      callbacks.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.#o.shutdownTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.#log.error({ timeoutMs: this.#o.shutdownTimeoutMs }, 'the meeting did not finish ending in time; leaving the room');
    await this.room.disconnect().catch((e: unknown) => this.#log.warn({ err: e }, 'leaving the room failed'));
    this.#log.info({ status: outcome.status, reason: outcome.reason }, 'job ended');
    this.#resolveDone(outcome);
    return outcome;
  }
}
