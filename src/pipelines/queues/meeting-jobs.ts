/**
 * The queue jobs of one meeting, found by their deterministic ids (queues.ts `jobIds`) and
 * confirmed by their data: erasure removes them, the end of finalisation bounds their life.
 *
 * BullMQ keeps a finished job (its hash `<prefix>:<queue>:<jobId>`, with the segment text or the
 * recipient address) until a later job of the queue finishes past the job's keep age: on a quiet
 * queue, forever. So once a meeting is finalised (done, or failed for good), its finished jobs get
 * a Redis TTL of the retention: the hash expires even if BullMQ never looks again. BullMQ's later
 * updates of a hash (HSET) keep the TTL; an id left in a state list after its hash expired is
 * skipped by `getJob` (undefined) and dropped by BullMQ's own cleanup.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobIds } from './queues.js';

export interface MeetingQueueSet {
  segments: Queue;
  deferredStt: Queue;
  finalize: Queue;
  email: Queue;
}

/** Each queue with the id prefix of the meeting's jobs in it. */
function prefixes(queues: MeetingQueueSet, meetingId: string): [Queue, string][] {
  return [
    [queues.segments, jobIds.segment(meetingId, '')],
    [queues.deferredStt, jobIds.deferredStt(meetingId, '')],
    [queues.email, jobIds.email(meetingId, '')],
    [queues.finalize, jobIds.finalize(meetingId)],
  ];
}

/** Ids of the meeting's jobs in one queue (the id prefix of "m1" also matches "m1_x": the job's data decides). */
async function idsIn(client: Redis, queue: Queue, idPrefix: string, meetingId: string): Promise<string[]> {
  const keyPrefix = queue.toKey('');
  const ids = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}${idPrefix}*`, 'COUNT', 500);
    cursor = next;
    for (const k of keys) ids.add(k.slice(keyPrefix.length).split(':')[0] as string);
  } while (cursor !== '0');
  const mine: string[] = [];
  for (const id of ids) {
    const job = await queue.getJob(id);
    if ((job?.data as { meetingId?: string } | undefined)?.meetingId === meetingId) mine.push(id);
  }
  return mine;
}

/** Removes every job of the meeting; a job running now cannot be removed and is counted as active. */
export async function removeMeetingJobs(client: Redis, queues: MeetingQueueSet, meetingId: string): Promise<{ removed: number; active: number }> {
  let removed = 0;
  let active = 0;
  for (const [queue, idPrefix] of prefixes(queues, meetingId)) {
    for (const id of await idsIn(client, queue, idPrefix, meetingId)) {
      if ((await queue.remove(id)) === 1) removed++;
      else if ((await queue.getJobState(id)) === 'active') active++;
    }
  }
  return { removed, active };
}

/** Gives every job record of the meeting (and its log list) a TTL of `seconds`. Returns how many jobs. */
export async function expireMeetingJobs(client: Redis, queues: MeetingQueueSet, meetingId: string, seconds: number): Promise<number> {
  let n = 0;
  for (const [queue, idPrefix] of prefixes(queues, meetingId)) {
    for (const id of await idsIn(client, queue, idPrefix, meetingId)) {
      await client.multi().expire(queue.toKey(id), seconds).expire(queue.toKey(`${id}:logs`), seconds).exec();
      n++;
    }
  }
  return n;
}
