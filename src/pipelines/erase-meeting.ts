/**
 * Right to erasure: everything the product holds about one meeting. The S3 prefix (artefacts,
 * manifest, spooled audio), every Redis key of the meeting (src/meeting/redis-keys.ts: state,
 * participants, transcript segments, events, counters, email markers, stop request, the API's
 * bookkeeping), the queue jobs that still carry its segments or addresses (completed jobs are kept
 * a while for deduplication) and their entries in the queues' event streams, and then the copies
 * Redis keeps on disk: a DEL leaves the value in the append-only file until it is rewritten, and
 * in the last RDB snapshot until the next one, so erasure asks for both (`purgeRedisDisk`).
 */
import type { Redis } from 'ioredis';
import { MeetingInfoSchema } from '../meeting/meeting-store.js';
import { eraseMeetingKeys, meetingKeys } from '../meeting/redis-keys.js';
import type { MeetingArtifacts } from '../storage/meeting-artifacts.js';
import { removeMeetingJobs, type MeetingQueueSet } from './queues/meeting-jobs.js';

export interface ErasureReport {
  meetingId: string;
  objects: string[];
  /** Redis keys of the meeting removed (every kind, email markers included). */
  redisKeys: number;
  jobs: number;
  /** Entries of the queues' event streams naming the meeting's jobs (ids, outcomes). */
  queueEvents: number;
  /** Jobs running right now cannot be removed; run the deletion again once they end. */
  activeJobs: number;
  /** What was asked of Redis so that the erased values leave its files too. */
  disk: DiskPurge;
}

export interface DiskPurge {
  /** `started`: BGREWRITEAOF accepted (or scheduled after the one running); `off`: no AOF. */
  aofRewrite: 'started' | 'off' | 'refused';
  /** `started`: BGSAVE accepted; `off`: no snapshot is configured; `unknown`: CONFIG is not allowed. */
  snapshot: 'started' | 'off' | 'unknown' | 'refused';
}

/**
 * Asks Redis to rewrite what it keeps on disk, so erased values leave its files within the time a
 * rewrite takes (seconds for the product's data): BGREWRITEAOF when the append-only file is on
 * (`INFO persistence`: aof_enabled), BGSAVE when RDB snapshots are configured (`CONFIG GET save`;
 * managed services that forbid CONFIG are reported as `unknown`, see README "Retention and erasure").
 */
export async function purgeRedisDisk(redis: Redis): Promise<DiskPurge> {
  const info = await redis.info('persistence');
  const aofOn = /^aof_enabled:1\r?$/m.test(info);
  let aofRewrite: DiskPurge['aofRewrite'] = 'off';
  if (aofOn) {
    // Redis answers "scheduled" when a rewrite or a snapshot is running: it starts once that ends.
    aofRewrite = await redis.bgrewriteaof().then(
      () => 'started' as const,
      () => 'refused' as const,
    );
  }
  let snapshot: DiskPurge['snapshot'];
  try {
    const [, save] = (await redis.config('GET', 'save')) as [string, string];
    snapshot = save.trim() === '' ? 'off' : 'started';
  } catch {
    snapshot = 'unknown';
  }
  if (snapshot === 'started') {
    // "SCHEDULE": queued behind a rewrite in progress instead of refused.
    snapshot = await redis.bgsave('SCHEDULE').then(
      () => 'started' as const,
      () => 'refused' as const,
    );
  }
  return { aofRewrite, snapshot };
}

export async function eraseMeeting(
  meetingId: string,
  artifacts: MeetingArtifacts,
  redis: { connection: Redis; queues: MeetingQueueSet } | null,
): Promise<ErasureReport> {
  const objects = await artifacts.erase(meetingId);
  const report: ErasureReport = { meetingId, objects, redisKeys: 0, jobs: 0, queueEvents: 0, activeJobs: 0, disk: { aofRewrite: 'off', snapshot: 'off' } };
  if (!redis) return report;
  const jobs = await removeMeetingJobs(redis.connection, redis.queues, meetingId);
  report.jobs = jobs.removed;
  report.queueEvents = jobs.events;
  report.activeJobs = jobs.active;
  const info = await redis.connection.get(meetingKeys.info(meetingId));
  const room = info ? (MeetingInfoSchema.pick({ room: true }).safeParse(JSON.parse(info)).data?.room ?? null) : null;
  report.redisKeys = await eraseMeetingKeys(redis.connection, meetingId, room);
  report.disk = await purgeRedisDisk(redis.connection);
  return report;
}
