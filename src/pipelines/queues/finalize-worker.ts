/**
 * meeting-finalize: one job per meeting (job id `fin_<meetingId>`), run exactly once in effect:
 *  1. wait until every segment is in: MeetingInfo.segmentCounts says how many utterances each
 *     participant had; a missing one that still has a live job (segment or deferred speech-to-text)
 *     is waited for by moving the job back to delayed (no attempt spent), up to a cap, after which
 *     the transcript says what is missing;
 *  2. the transcript (json, vtt, srt, md) is stored first, so it survives whatever happens to the
 *     minutes; then minutes → artefacts, unless the manifest shows they are already there (a crash
 *     after this step does not call Mistral again);
 *  3. one email job per recipient (deterministic ids, each recorded `pending`), then status `done`.
 * A retried or duplicated job finds the work done and does nothing more.
 */
import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { createLogger } from '../../logging.js';
import { minutesProduced, minutesTokens, recipientsIgnored } from '../../metrics.js';
import type { MeetingInfo, MeetingStateStore } from '../../meeting/meeting-store.js';
import type { ArtefactStore } from '../../storage/meeting-artifacts.js';
import { resolveRecipients, recipientKey } from '../email/recipients.js';
import { transcriptOf, transcriptFiles, minutesFiles, type MinutesOptions } from '../meeting-outputs.js';
import type { Transcript } from '../transcript/transcript.js';
import { generateMinutes, MinutesError } from '../minutes/generate-minutes.js';
import type { TranscriptSegment } from '../../meeting/segment.js';
import { EmailJobSchema, FinalizeJobSchema, jobIds, QUEUE, type EmailJob } from './queues.js';
import { crashSafeOptions, type CrashSafety } from './worker-runtime.js';

const log = createLogger('finalize-worker');

/** Where finalisation looks for segments still on their way (a BullMQ Queue). */
export type JobLookup = Pick<Queue, 'getJob' | 'getJobs'>;

/** Where finalisation puts one email job per recipient (a BullMQ Queue, or the recording mode's own runner). */
export interface EmailJobSink {
  add(name: 'send', data: EmailJob, opts: { jobId: string }): Promise<unknown>;
}

export interface FinalizeDeps {
  store: MeetingStateStore;
  artifacts: ArtefactStore;
  minutes: MinutesOptions;
  segmentsQueue: JobLookup;
  deferredSttQueue: JobLookup;
  emailQueue: EmailJobSink;
  /**
   * Gives the meeting's queue job records (segment text, addresses) the retention as TTL, once the
   * meeting is done or has failed for good (src/pipelines/queues/meeting-jobs.ts); absent where
   * there are no queues (the recording mode's inline pipeline).
   */
  expireQueueRecords?: (meetingId: string) => Promise<void>;
}

export interface FinalizeTiming {
  /** How often to look again while segments are missing. */
  pollMs: number;
  /** After this long waiting, finalise with what is there and say what is missing. */
  waitCapMs: number;
  /**
   * A host stop or room_finished can arrive while the agent is still flushing its last utterances;
   * only its end mark (segment counts) says how many there are. Wait this long for it; an agent that
   * died never sends one.
   */
  agentReportCapMs: number;
}

export const DEFAULT_FINALIZE_TIMING: FinalizeTiming = { pollMs: 5_000, waitCapMs: 15 * 60_000, agentReportCapMs: 2 * 60_000 };

const FinalizeStateSchema = FinalizeJobSchema.extend({ waitingSince: z.number().optional() });

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

async function isLive(queue: JobLookup, jobId: string): Promise<boolean> {
  const job = await queue.getJob(jobId);
  if (!job) return false;
  return LIVE_STATES.has(await job.getState());
}

export interface Completeness {
  /** The meeting's stored segments, read after the queues were looked at. */
  segments: TranscriptSegment[];
  /** Utterances announced by the agent but not stored. */
  missing: string[];
  /** Of those, the ones that may still arrive (a job is queued or running for them). */
  pending: string[];
}

/**
 * Which announced utterances are not in the store, and which of them are still on their way.
 *
 * The store is read again after the queues: a segment whose job completes between a first read
 * and the look at its job is neither live nor in that first read, and would be taken for lost
 * (at the end of a meeting its last segments are being stored just as finalisation starts).
 * Read after, it is in the store; a job seen live is waited for.
 */
export async function completenessOf(meeting: MeetingInfo, deps: Pick<FinalizeDeps, 'store' | 'segmentsQueue' | 'deferredSttQueue'>): Promise<Completeness> {
  const expected: string[] = [];
  for (const [key, count] of Object.entries(meeting.segmentCounts ?? {})) {
    for (let seq = 0; seq < count; seq++) expected.push(`${key}-${String(seq).padStart(5, '0')}`);
  }
  const idsOf = (segments: readonly TranscriptSegment[]) => new Set(segments.map((s) => s.segmentId));
  const first = await deps.store.segments(meeting.meetingId);
  const firstIds = idsOf(first);
  const firstMissing = expected.filter((id) => !firstIds.has(id));
  const onTheirWay = new Set<string>();
  for (const id of firstMissing) {
    if ((await isLive(deps.deferredSttQueue, jobIds.deferredStt(meeting.meetingId, id))) || (await isLive(deps.segmentsQueue, jobIds.segment(meeting.meetingId, id)))) {
      onTheirWay.add(id);
    }
  }
  if (meeting.segmentCounts === null) {
    // No counts (the agent died before its end mark): wait at least for the jobs already queued.
    for (const queue of [deps.deferredSttQueue, deps.segmentsQueue]) {
      const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized'], 0, 5000);
      for (const j of jobs) {
        const data = j.data as { meetingId?: string; segmentId?: string };
        if (data.meetingId === meeting.meetingId && data.segmentId && !firstIds.has(data.segmentId)) onTheirWay.add(data.segmentId);
      }
    }
  }
  if (firstMissing.length === 0 && onTheirWay.size === 0) return { segments: first, missing: [], pending: [] };
  const segments = await deps.store.segments(meeting.meetingId);
  const ids = idsOf(segments);
  return { segments, missing: expected.filter((id) => !ids.has(id)), pending: [...onTheirWay].filter((id) => !ids.has(id)) };
}

/**
 * Renders the transcript from the stored segments and stores its four files (before any minutes
 * are attempted). Returns it for the minutes.
 */
export async function storeTranscript(deps: Pick<FinalizeDeps, 'store' | 'artifacts'>, meeting: MeetingInfo, segments: readonly TranscriptSegment[], missing: number): Promise<Transcript> {
  const transcript = transcriptOf(meeting, await deps.store.participants(meeting.meetingId), segments, await deps.store.events(meeting.meetingId), missing);
  await deps.artifacts.store(meeting.meetingId, transcriptFiles(transcript));
  return transcript;
}

export async function finalizeMeeting(deps: FinalizeDeps, timing: FinalizeTiming, job: Pick<Job, 'data' | 'updateData' | 'moveToDelayed'>, token?: string): Promise<{ outcome: string; emails?: number }> {
  const data = FinalizeStateSchema.parse(job.data);
  const { meetingId } = data;
  const meeting = await deps.store.get(meetingId);
  if (!meeting) throw new UnrecoverableError(`unknown meeting ${meetingId}`);
  // 'failed' is not final: an operator may retry the job once the cause is fixed.
  if (meeting.status === 'done') return { outcome: 'already done' };

  const { segments, missing, pending } = await completenessOf(meeting, deps);
  // A live meeting whose agent joined but has not reported its counts yet.
  const agentStillFlushing = meeting.room !== null && meeting.startedAt !== null && meeting.segmentCounts === null;
  if (pending.length > 0 || agentStillFlushing) {
    const since = data.waitingSince ?? Date.now();
    const cap = pending.length > 0 ? timing.waitCapMs : timing.agentReportCapMs;
    if (Date.now() - since < cap && token) {
      if (data.waitingSince === undefined) await job.updateData({ ...data, waitingSince: since });
      log.info({ meetingId, pending: pending.length, waitedMs: Date.now() - since }, 'waiting for the last segments');
      await job.moveToDelayed(Date.now() + timing.pollMs, token);
      throw new DelayedError();
    }
    log.warn({ meetingId, pending: pending.length, agentReported: !agentStillFlushing, waitedMs: Date.now() - since }, 'segments still missing after the wait cap; finalising without them');
  }
  if (missing.length > 0) log.warn({ meetingId, missing: missing.length }, 'finalising with missing segments');

  await deps.store.update(meetingId, (m) => ({ ...m, status: 'finalising' }));
  let manifest = await deps.artifacts.manifest(meetingId);
  if (manifest && manifest.files.some((f) => f.name === 'minutes.json')) {
    log.info({ meetingId }, 'artefacts already stored by an earlier attempt');
  } else {
    const t0 = performance.now();
    const transcript = await storeTranscript(deps, meeting, segments, missing.length);
    let minutes;
    try {
      minutes = await generateMinutes(transcript, deps.minutes);
    } catch (e) {
      if (!(e instanceof MinutesError) || e.reason !== 'invalid_output') throw e; // model down: retried by BullMQ
      // The transcript is kept (it is stored, and correct); no minutes are sent, and the status says why.
      await deps.store.update(meetingId, (m) => ({ ...m, status: 'failed', failure: `minutes: ${e.message.slice(0, 300)}` }));
      await deps.store.expireAll(meetingId);
      await deps.expireQueueRecords?.(meetingId);
      log.error({ meetingId }, 'minutes invalid after one repair; meeting failed, no email sent');
      minutesProduced.inc({ outcome: 'failed' });
      throw new UnrecoverableError(e.message);
    }
    const usage = { ...minutes.generation.usage, calls: minutes.generation.calls };
    manifest = await deps.artifacts.store(meetingId, { ...transcriptFiles(transcript), ...minutesFiles(minutes) }, usage);
    minutesProduced.inc({ outcome: minutes.kind });
    minutesTokens.inc({ kind: 'prompt' }, minutes.generation.usage.promptTokens);
    minutesTokens.inc({ kind: 'completion' }, minutes.generation.usage.completionTokens);
    log.info(
      { meetingId, turns: transcript.turns.length, kind: minutes.kind, calls: minutes.generation.calls, depth: minutes.generation.sequentialDepth, parts: minutes.generation.parts, ...minutes.generation.usage, ms: Math.round(performance.now() - t0) },
      'minutes and artefacts stored',
    );
  }

  const participants = await deps.store.participants(meetingId);
  const recipients = resolveRecipients(meeting, participants);
  for (const p of participants) for (const reason of p.ignoredAddresses) recipientsIgnored.inc({ reason });
  for (const r of recipients) {
    const key = recipientKey(r.address);
    // A recipient already handled by an earlier attempt keeps its outcome.
    if (!(await deps.store.deliveries(meetingId))[key]) {
      await deps.store.recordDelivery(meetingId, key, { address: r.address, outcome: 'pending', reply: null, at: new Date().toISOString() });
    }
    await deps.emailQueue.add('send', EmailJobSchema.parse({ meetingId, recipient: r, recipientKey: key }), { jobId: jobIds.email(meetingId, key) });
  }
  await deps.store.update(meetingId, (m) => ({ ...m, status: 'done', failure: null }));
  await deps.store.expireAll(meetingId);
  await deps.expireQueueRecords?.(meetingId);
  log.info({ meetingId, recipients: recipients.length, missing: missing.length }, 'meeting finalised');
  return { outcome: 'done', emails: recipients.length };
}

/** A finalisation failed for good (its last attempt): the meeting is `failed`, with the cause. */
export async function recordFinalizeFailure(store: Pick<MeetingStateStore, 'update' | 'expireAll'>, meetingId: string, e: unknown): Promise<void> {
  await store.update(meetingId, (m) => ({ ...m, status: 'failed', failure: (e as Error).message.slice(0, 300) })).catch(() => undefined);
  // A failed meeting keeps its state for an operator's retry, but no longer than its retention.
  await store.expireAll(meetingId).catch(() => undefined);
  minutesProduced.inc({ outcome: 'failed' });
}

export function startFinalizeWorker(connection: Redis, deps: FinalizeDeps, crash: CrashSafety, timing: FinalizeTiming = DEFAULT_FINALIZE_TIMING): Worker {
  const worker = new Worker(
    QUEUE.finalize,
    async (job, token) => {
      try {
        return await finalizeMeeting(deps, timing, job, token);
      } catch (e) {
        if (e instanceof DelayedError || e instanceof UnrecoverableError) throw e;
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (lastAttempt) {
          const meetingId = (job.data as { meetingId: string }).meetingId;
          await recordFinalizeFailure(deps.store, meetingId, e);
          await deps.expireQueueRecords?.(meetingId).catch(() => undefined);
        }
        throw e;
      }
    },
    {
      connection,
      // Its own limit: minutes are the slow, paid step; a burst of meetings ending together queues here.
      concurrency: 2,
      limiter: { max: 2, duration: 1000 },
      ...crashSafeOptions(crash),
    },
  );
  return worker;
}
