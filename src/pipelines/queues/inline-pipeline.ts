/**
 * The pipeline's finalisation and email steps, run inside the calling process instead of by the
 * `pipeline` role's BullMQ workers: what `meeting-agent transcribe` does with a recording once its
 * segments are stored. Same functions (finalizeMeeting, sendMinutesEmail), same idempotency (the
 * manifest, the sent markers, one job per recipient id), same metrics and the email worker's retry
 * policy (EMAIL_JOB_OPTIONS); no queue is involved, so a recording leaves no job behind in Redis.
 */
import pMap from 'p-map';
import pRetry from 'p-retry';
import type { MeetingStateStore } from '../../meeting/meeting-store.js';
import type { ArtefactStore } from '../../storage/meeting-artifacts.js';
import type { MinutesOptions } from '../meeting-outputs.js';
import { recordEmailGivenUp, sendMinutesEmail, type EmailDeps } from './email-worker.js';
import { DEFAULT_FINALIZE_TIMING, finalizeMeeting, recordFinalizeFailure, type EmailJobSink, type JobLookup } from './finalize-worker.js';
import { EMAIL_JOB_OPTIONS, type EmailJob } from './queues.js';
import type { EndReason } from '../../meeting/meeting-events.js';

/** Segments are stored directly, never queued: nothing is ever on its way. */
const NO_JOBS: JobLookup = { getJob: async () => undefined, getJobs: async () => [] };

/** The email jobs finalisation asks for, deduplicated by job id as BullMQ does. */
class EmailJobs implements EmailJobSink {
  readonly jobs = new Map<string, EmailJob>();

  async add(_name: 'send', data: EmailJob, opts: { jobId: string }): Promise<void> {
    if (!this.jobs.has(opts.jobId)) this.jobs.set(opts.jobId, data);
  }
}

export interface InlineFinalizeDeps {
  store: MeetingStateStore;
  artifacts: ArtefactStore;
  minutes: MinutesOptions;
  retentionDays: number;
}

/**
 * finalizeMeeting for a meeting whose segments are all stored. Returns the email jobs it asked
 * for. On failure the meeting is recorded `failed` with the cause (as after the worker's last
 * attempt: a recording is not retried behind the user's back) and the error is thrown.
 */
export async function finalizeInline(deps: InlineFinalizeDeps, meetingId: string, reason: EndReason): Promise<EmailJob[]> {
  const emails = new EmailJobs();
  const job = { data: { meetingId, reason }, updateData: async () => undefined, moveToDelayed: async () => undefined };
  try {
    await finalizeMeeting({ ...deps, segmentsQueue: NO_JOBS, deferredSttQueue: NO_JOBS, emailQueue: emails }, DEFAULT_FINALIZE_TIMING, job);
  } catch (e) {
    const failed = (await deps.store.get(meetingId))?.status === 'failed';
    if (!failed) await recordFinalizeFailure(deps.store, meetingId, e);
    throw e;
  }
  return [...emails.jobs.values()];
}

export interface EmailRetry {
  attempts: number;
  /** First backoff; doubled after each attempt (BullMQ's exponential backoff). */
  delayMs: number;
}

export const EMAIL_RETRY: EmailRetry = { attempts: EMAIL_JOB_OPTIONS.attempts, delayMs: EMAIL_JOB_OPTIONS.backoff.delay };

/**
 * Sends every email job (four at a time, as the email worker), each retried on temporary failures
 * with the worker's backoff; a refused or given-up recipient does not stop the others. Outcomes are
 * recorded on the meeting (MeetingStateStore.deliveries).
 */
export async function sendEmailsInline(
  deps: EmailDeps,
  jobs: readonly EmailJob[],
  retry: EmailRetry = EMAIL_RETRY,
  onRetry?: (job: EmailJob, attempt: number, delayMs: number) => void,
): Promise<void> {
  await pMap(
    jobs,
    async (data) => {
      try {
        await pRetry(() => sendMinutesEmail(deps, { data, id: undefined }), {
          retries: retry.attempts - 1,
          minTimeout: retry.delayMs,
          factor: 2,
          // Asked only when a retry follows (retries left, a failure worth retrying).
          shouldRetry: ({ attemptNumber, retryDelay }) => {
            onRetry?.(data, attemptNumber, retryDelay);
            return true;
          },
        });
      } catch (e) {
        await recordEmailGivenUp(deps.store, data, e);
      }
    },
    { concurrency: 4 },
  );
}
