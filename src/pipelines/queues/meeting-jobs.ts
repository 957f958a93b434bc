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
 *
 * Each queue also has an event stream (`<prefix>:<queue>:events`): one entry per state change of
 * a job, with its id (meeting id, participant or recipient key) and its return value or failure
 * reason, which BullMQ trims only to its last ~10,000 entries. Nothing in the product reads it
 * (no QueueEvents); erasure deletes the meeting's entries and the end of finalisation bounds the
 * stream's age by the retention too.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { isMeetingJobId, jobIds } from './queues.js';

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

/** The queue's event stream key. */
function eventStream(queue: Queue): string {
  const key = queue.keys.events;
  if (!key) throw new Error(`BullMQ names no event stream for queue ${queue.name}`);
  return key;
}

const STREAM_PAGE = 1000;

/**
 * Rebuilds a stream without the entries whose ids are given, atomically, keeping every other entry
 * with its id and the key's TTL. XDEL alone would not do: it only flags an entry deleted, and its
 * bytes stay in the stream's node, in memory and in the files Redis writes, until every entry of
 * that node is gone.
 */
const REBUILD_STREAM_WITHOUT = `
local drop = {}
for _, id in ipairs(ARGV) do drop[id] = true end
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
local removed, kept = 0, 0
for _, entry in ipairs(entries) do
  if drop[entry[1]] then removed = removed + 1
  else redis.call('XADD', KEYS[1], entry[1], unpack(entry[2])); kept = kept + 1 end
end
if ttl > 0 and kept > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return removed`;

/** Deletes the entries of the queue's event stream that name one of the meeting's jobs; returns how many. */
async function removeMeetingEvents(client: Redis, queue: Queue, meetingId: string): Promise<number> {
  const key = eventStream(queue);
  const mine: string[] = [];
  let start = '-';
  for (;;) {
    const page = await client.xrange(key, start, '+', 'COUNT', STREAM_PAGE);
    for (const [entryId, fields] of page) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'jobId' && isMeetingJobId(fields[i + 1]!, meetingId)) mine.push(entryId);
      }
    }
    if (page.length < STREAM_PAGE) break;
    start = `(${page.at(-1)![0]}`;
  }
  if (mine.length === 0) return 0;
  return (await client.eval(REBUILD_STREAM_WITHOUT, 1, key, ...mine)) as number;
}

/**
 * Removes every job of the meeting, and its entries in the queues' event streams; a job running
 * now cannot be removed and is counted as active.
 */
export async function removeMeetingJobs(client: Redis, queues: MeetingQueueSet, meetingId: string): Promise<{ removed: number; active: number; events: number }> {
  let removed = 0;
  let active = 0;
  let events = 0;
  for (const [queue, idPrefix] of prefixes(queues, meetingId)) {
    for (const id of await idsIn(client, queue, idPrefix, meetingId)) {
      if ((await queue.remove(id)) === 1) removed++;
      else if ((await queue.getJobState(id)) === 'active') active++;
    }
    // After the removals, whose own "removed" entries name the jobs too.
    events += await removeMeetingEvents(client, queue, meetingId);
  }
  return { removed, active, events };
}

/**
 * Gives every job record of the meeting (and its log list) a TTL of `seconds`, and bounds each
 * queue's event stream by the same age: entries older than `seconds` are trimmed now, and the
 * stream expires whole `seconds` after the last meeting finished (later entries included: nothing
 * reads them). Trimming frees whole nodes of the stream (100 entries by default); the node at the
 * boundary keeps the bytes of its trimmed entries until it goes too. Returns how many jobs.
 */
export async function expireMeetingJobs(client: Redis, queues: MeetingQueueSet, meetingId: string, seconds: number): Promise<number> {
  let n = 0;
  for (const [queue, idPrefix] of prefixes(queues, meetingId)) {
    for (const id of await idsIn(client, queue, idPrefix, meetingId)) {
      await client.multi().expire(queue.toKey(id), seconds).expire(queue.toKey(`${id}:logs`), seconds).exec();
      n++;
    }
    const stream = eventStream(queue);
    await client.multi().xtrim(stream, 'MINID', Date.now() - seconds * 1000).expire(stream, seconds).exec();
  }
  return n;
}
