/**
 * Right to erasure: everything the product holds about one meeting. The S3 prefix (artefacts,
 * manifest, spooled audio), the meeting's Redis state, the email "sent" markers, and the queue jobs
 * that still carry its segments or addresses (completed jobs are kept a while for deduplication).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MeetingStore } from '../meeting/meeting-store.js';
import type { MeetingArtifacts } from '../storage/meeting-artifacts.js';
import { SentMarkers } from './email/mailer.js';
import { jobIds } from './queues/queue-names.js';

export interface ErasureReport {
  meetingId: string;
  objects: string[];
  redisKeys: number;
  sentMarkers: number;
  jobs: number;
  /** Jobs running right now cannot be removed; run the deletion again once they end. */
  activeJobs: number;
}

async function removeJobs(client: Redis, queue: Queue, idPrefix: string, meetingId: string): Promise<{ removed: number; active: number }> {
  let removed = 0;
  let active = 0;
  let cursor = '0';
  const pattern = `${queue.opts.prefix ?? 'bull'}:${queue.name}:${idPrefix}*`;
  const ids = new Set<string>();
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    for (const k of keys) {
      const rest = k.slice(`${queue.opts.prefix ?? 'bull'}:${queue.name}:`.length);
      ids.add(rest.split(':')[0] as string);
    }
  } while (cursor !== '0');
  for (const id of ids) {
    // The id prefix of meeting "m1" also matches meeting "m1_x": the job's own data decides.
    const job = await queue.getJob(id);
    if ((job?.data as { meetingId?: string } | undefined)?.meetingId !== meetingId) continue;
    if ((await queue.remove(id)) === 1) removed++;
    else if ((await queue.getJobState(id)) === 'active') active++;
  }
  return { removed, active };
}

export async function eraseMeeting(
  meetingId: string,
  artifacts: MeetingArtifacts,
  redis: { connection: Redis; queues: { segments: Queue; deferredStt: Queue; finalize: Queue; email: Queue } } | null,
): Promise<ErasureReport> {
  const objects = await artifacts.erase(meetingId);
  const report: ErasureReport = { meetingId, objects, redisKeys: 0, sentMarkers: 0, jobs: 0, activeJobs: 0 };
  if (!redis) return report;
  const { queues } = redis;
  for (const [queue, prefix] of [
    [queues.segments, jobIds.segment(meetingId, '')],
    [queues.deferredStt, jobIds.deferredStt(meetingId, '')],
    [queues.email, jobIds.email(meetingId, '')],
    [queues.finalize, jobIds.finalize(meetingId)],
  ] as const) {
    const r = await removeJobs(redis.connection, queue, prefix, meetingId);
    report.jobs += r.removed;
    report.activeJobs += r.active;
  }
  report.redisKeys = await new MeetingStore(redis.connection).erase(meetingId);
  report.sentMarkers = await new SentMarkers(redis.connection, 1).erase(meetingId);
  return report;
}
