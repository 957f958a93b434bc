/**
 * Every Redis key (and pub/sub channel) the product writes, spelled here and nowhere else, with the
 * time each one may live. Three processes (agent, pipeline, API) read and write them, so this
 * module is their contract; erasure (`eraseMeetingKeys`) and expiry (`expireMeetingKeys`) walk the
 * lists below, so a key added here is erased and expires with its meeting.
 *
 * Lifetimes (the "TTL policy"):
 * - **meeting keys** (`meetingKeys`): everything that names one meeting, several of them holding
 *   personal data (participants' names and addresses, transcript words). Each write sets the key's
 *   TTL to the meeting's retention (`retentionSeconds(RETENTION_DAYS)`), so a meeting that never
 *   finishes (agent crash, failed finalisation) still expires, at most RETENTION_DAYS after its
 *   last write. A finished or failed meeting's keys get that TTL once more (`expireMeetingKeys`).
 * - **room keys** (`roomKeys`): which meeting a room name is transcribing, or last transcribed.
 *   They hold a meeting id, no content; same retention TTL, and erasure removes them when they
 *   still point at the erased meeting.
 * - **stop requests** (`meetingKeys.stopRequested`): a day (`STOP_REQUEST_SECONDS`).
 * - **webhook ids** (`webhookSeenKey`): event ids LiveKit sent, for replay protection (a day).
 * - **rate-limit counters** (`RATE_LIMIT_PREFIX`, written by @fastify/rate-limit): one per client
 *   address or credential digest, expiring with their window (a minute).
 *
 * Meeting ids are 1-100 of `[A-Za-z0-9_-]` (no ':' nor glob characters), so one meeting's keys
 * can never match another's pattern.
 */
import type { Redis } from 'ioredis';

const PREFIX = 'meeting-agent';

const meeting = (id: string) => `${PREFIX}:meeting:${id}`;

/** Keys that name one meeting. */
export const meetingKeys = {
  /** String: the MeetingInfo JSON (src/meeting/meeting-store.ts). */
  info: meeting,
  /** Hash identity → MeetingParticipant JSON (names, trusted addresses). */
  participants: (id: string) => `${meeting(id)}:participants`,
  /** Hash segmentId → TranscriptSegment JSON (the transcript words). */
  segments: (id: string) => `${meeting(id)}:segments`,
  /** List of MeetingEvent JSON (joins, leaves, opt-outs). */
  events: (id: string) => `${meeting(id)}:events`,
  /** Hash participantKey → utterances numbered so far (src/agent/sequence-counter.ts). */
  sequences: (id: string) => `${meeting(id)}:sequences`,
  /** Hash recipientKey → Delivery JSON: what became of each recipient's minutes email (address, outcome, SMTP reply). */
  deliveries: (id: string) => `${meeting(id)}:deliveries`,
  /** String per recipient: the message id once the minutes were accepted by SMTP (src/pipelines/email/mailer.ts). */
  sent: (id: string, recipientKey: string) => `${meeting(id)}:sent:${recipientKey}`,
  /** String: set when the control plane asked the meeting's agent to stop (src/meeting/stop-signal.ts). */
  stopRequested: (id: string) => `${PREFIX}:stop-requested:${id}`,
  /** Hash: dispatchId: the API's bookkeeping of a meeting it started (src/api/transcriptions.ts). */
  api: (id: string) => `${PREFIX}:api:meeting:${id}`,
  /**
   * Sorted set: the meeting's lost agent participants (their LiveKit sid, scored by the time of
   * loss in ms) that the control plane dispatched again (src/api/agent-recovery.ts): one
   * re-dispatch per lost participant, and a bound per window.
   */
  recoveries: (id: string) => `${PREFIX}:api:meeting:${id}:recoveries`,
} as const;

/** The keys of one meeting with a fixed name (the `sent` markers are found by pattern). */
export function fixedMeetingKeys(meetingId: string): string[] {
  return [
    meetingKeys.info(meetingId),
    meetingKeys.participants(meetingId),
    meetingKeys.segments(meetingId),
    meetingKeys.events(meetingId),
    meetingKeys.sequences(meetingId),
    meetingKeys.deliveries(meetingId),
    meetingKeys.stopRequested(meetingId),
    meetingKeys.api(meetingId),
    meetingKeys.recoveries(meetingId),
  ];
}

/** SCAN patterns of the meeting's keys whose names carry more than its id. */
export function meetingKeyPatterns(meetingId: string): string[] {
  return [meetingKeys.sent(meetingId, '*')];
}

/** Pub/sub channel on which a stop request is announced (a channel, not a key: nothing is stored). */
export const stopChannel = (meetingId: string) => `${PREFIX}:stop:${meetingId}`;

/** Keys named after a LiveKit room name (reused across meetings); their value is a meeting id. */
export const roomKeys = {
  /** String: the meeting transcribing the room now (claimed by the API or the agent). */
  claim: (room: string) => `${PREFIX}:room:${room}`,
  /** SCAN pattern of every room claim (cluster metrics). */
  claimPattern: `${PREFIX}:room:*`,
  /** String: the last meeting the API started in the room, readable once the claim is released. */
  lastMeeting: (room: string) => `${PREFIX}:api:last-meeting:${room}`,
} as const;

/** String per LiveKit webhook event id already processed (replay protection). */
export const webhookSeenKey = (eventId: string) => `${PREFIX}:api:webhook-seen:${eventId}`;

/** Prefix of the API's rate-limit counters (src/api/rate-limit.ts; the plugin appends the key). */
export const RATE_LIMIT_PREFIX = `${PREFIX}:api:rate-limit:`;

/** TTL of a meeting's keys, in seconds: its retention (RETENTION_DAYS, the S3 lifecycle's days). */
export function retentionSeconds(retentionDays: number): number {
  if (!Number.isInteger(retentionDays) || retentionDays <= 0) throw new Error(`retention must be a positive number of days, not ${retentionDays}`);
  return retentionDays * 86_400;
}

/**
 * How long a stop request is kept (an agent dispatched later must still see it): a day, which is
 * never past retention (RETENTION_DAYS is at least 1).
 */
export const STOP_REQUEST_SECONDS = 86_400;

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Every key of the meeting that exists now (fixed names and pattern matches). */
export async function existingMeetingKeys(redis: Redis, meetingId: string): Promise<string[]> {
  const fixed = fixedMeetingKeys(meetingId);
  const exists = await Promise.all(fixed.map((k) => redis.exists(k)));
  const present = fixed.filter((_, i) => exists[i] === 1);
  for (const pattern of meetingKeyPatterns(meetingId)) present.push(...(await scanAll(redis, pattern)));
  return present;
}

/**
 * Sets every existing key of the meeting to expire in `seconds` (retention after the meeting is
 * done or failed). Keys written later set their own TTL when written.
 */
export async function expireMeetingKeys(redis: Redis, meetingId: string, seconds: number): Promise<void> {
  const keys = await existingMeetingKeys(redis, meetingId);
  if (keys.length === 0) return;
  const m = redis.multi();
  for (const key of keys) m.expire(key, seconds);
  await m.exec();
}

const DELETE_IF_HOLDS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/** Deletes a room key only if it still holds that meeting (a later meeting of the room keeps it). */
export async function releaseRoomKey(redis: Redis, key: string, meetingId: string): Promise<boolean> {
  return (await redis.eval(DELETE_IF_HOLDS, 1, key, meetingId)) === 1;
}

/**
 * Erasure of the meeting's Redis state: every meeting key, and the room keys still pointing at it
 * (`room` is the meeting's room name, when known). Returns how many keys were deleted.
 * Queue jobs are not keys of ours: src/pipelines/erase-meeting.ts removes them.
 */
export async function eraseMeetingKeys(redis: Redis, meetingId: string, room: string | null): Promise<number> {
  let removed = 0;
  if (room) {
    for (const key of [roomKeys.claim(room), roomKeys.lastMeeting(room)]) if (await releaseRoomKey(redis, key, meetingId)) removed++;
  }
  const keys = await existingMeetingKeys(redis, meetingId);
  if (keys.length > 0) removed += await redis.del(...keys);
  return removed;
}
