/**
 * The state of every meeting, in Redis, shared by the agent, the pipeline workers and the API
 * (several processes on several machines). Writes are idempotent: a retried job or a
 * re-dispatched agent writes the same keys again and changes nothing.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { ParticipantRefSchema, TranscriptSegmentSchema, type TranscriptSegment } from './segment.js';
import { EndReasonSchema, MeetingEventSchema, type EndReason, type MeetingEvent } from './meeting-events.js';
import { eraseMeetingKeys, expireMeetingKeys, meetingKeys as keys, releaseRoomKey, retentionSeconds, roomKeys } from './redis-keys.js';

export const MeetingStatusSchema = z.enum(['starting', 'active', 'finalising', 'done', 'failed']);
export type MeetingStatus = z.infer<typeof MeetingStatusSchema>;

export const RequesterSchema = z.object({
  identity: z.string().nullable(),
  email: z.email().nullable(),
});

export const MeetingInfoSchema = z.object({
  meetingId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  /** LiveKit room name, or null for a recording transcribed offline. */
  room: z.string().nullable(),
  /**
   * LiveKit's sid of the room instance the meeting ran in. A room name is reused (closed, then
   * opened again: a new instance, a new sid); authority over a meeting follows the instance.
   * Null for a recording, and for a meeting the agent created on its own dispatch.
   */
  roomSid: z.string().nullable().default(null),
  language: z.string(),
  requester: RequesterSchema.nullable(),
  glossary: z.array(z.string()),
  /** Extra recipients the caller was allowed to add (API), besides participants' own addresses. */
  extraRecipients: z.array(z.email()).default([]),
  createdAt: z.string().datetime(),
  /** Wall-clock time of the meeting clock's zero (when the agent joined). */
  startedAt: z.string().datetime().nullable(),
  status: MeetingStatusSchema,
  endedAt: z.string().datetime().nullable(),
  endReason: EndReasonSchema.nullable(),
  /** Per participant key: how many utterances the agent cut; finalisation waits for all of them. */
  segmentCounts: z.record(z.string(), z.number().int().nonnegative()).nullable(),
  failure: z.string().nullable(),
});
export type MeetingInfo = z.infer<typeof MeetingInfoSchema>;

/** Why a participant's `email` attribute was not trusted (src/agent/recipient-trust.ts). */
export const IgnoredAddressReasonSchema = z.enum([
  /** No valid signature, and the participant may rewrite its attributes (or the value changed after the agent first saw it). */
  'unsigned',
  /** A signature that does not match the identity and address (or no RECIPIENT_SIGNING_KEY to check it). */
  'bad_signature',
  /** No signature, and LiveKit's server API could not say whether the participant may rewrite its attributes. */
  'unverifiable',
  /** Not an email address. */
  'malformed',
]);
export type IgnoredAddressReason = z.infer<typeof IgnoredAddressReasonSchema>;

export const MeetingParticipantSchema = ParticipantRefSchema.extend({
  /**
   * The participant's address for the minutes, only when trusted: signed by the conferencing
   * backend, or present when the agent first saw a participant that cannot rewrite its attributes.
   */
  email: z.email().nullable(),
  optedOut: z.boolean(),
  /** One entry per `email` value ignored as untrusted (the values themselves are not kept). */
  ignoredAddresses: z.array(IgnoredAddressReasonSchema).default([]),
});
// The input shape: `ignoredAddresses` may be left out by writers that never judge an address (recordings).
export type MeetingParticipant = z.input<typeof MeetingParticipantSchema>;
/** A participant as read back from the store (every field present). */
export type StoredParticipant = z.infer<typeof MeetingParticipantSchema>;

/**
 * True while someone may still write the meeting's state: the agent (starting, active) or the
 * finaliser (ended, not yet done or failed). Erasing it then would let them recreate it.
 */
export function inProgress(info: Pick<MeetingInfo, 'status'>): boolean {
  return info.status !== 'done' && info.status !== 'failed';
}

/** What became of the minutes email to one recipient (the email worker records it). */
export const DeliverySchema = z.object({
  address: z.email(),
  /** pending: queued; sent: the SMTP server accepted it; refused: a permanent (5xx) refusal; failed: temporary failures until the last attempt. */
  outcome: z.enum(['pending', 'sent', 'refused', 'failed']),
  /** The SMTP server's reply when it refused or failed (e.g. "550 5.1.1 Mailbox unavailable"). */
  reply: z.string().nullable(),
  at: z.string().datetime(),
});
export type Delivery = z.infer<typeof DeliverySchema>;

export type NewMeeting = Pick<MeetingInfo, 'meetingId' | 'room' | 'language' | 'requester' | 'glossary'> &
  Partial<Pick<MeetingInfo, 'extraRecipients' | 'status' | 'roomSid'>>;

export interface MeetingStoreOptions {
  /** RETENTION_DAYS: every key this store writes expires at most this long after its last write. */
  retentionDays: number;
}

/** A new meeting's state, before anything happened (every store writes this shape). */
export function newMeetingInfo(meeting: NewMeeting): MeetingInfo {
  return MeetingInfoSchema.parse({
    extraRecipients: [],
    status: 'starting',
    ...meeting,
    createdAt: new Date().toISOString(),
    startedAt: null,
    endedAt: null,
    endReason: null,
    segmentCounts: null,
    failure: null,
  });
}

/** The meeting with its end recorded: the first reason and time win; segment counts are merged (max). */
export function withEnd(info: MeetingInfo, reason: EndReason, segmentCounts?: Record<string, number>): MeetingInfo {
  const counts = { ...(info.segmentCounts ?? {}) };
  for (const [k, n] of Object.entries(segmentCounts ?? {})) counts[k] = Math.max(counts[k] ?? 0, n);
  return {
    ...info,
    endedAt: info.endedAt ?? new Date().toISOString(),
    endReason: info.endReason ?? reason,
    segmentCounts: segmentCounts || info.segmentCounts ? counts : null,
  };
}

export class MeetingStore {
  /** TTL, in seconds, set on every write (src/meeting/redis-keys.ts, "TTL policy"). */
  readonly ttlSeconds: number;

  constructor(
    private readonly redis: Redis,
    options: MeetingStoreOptions,
  ) {
    this.ttlSeconds = retentionSeconds(options.retentionDays);
  }

  /** Creates the meeting unless it exists; returns what is stored either way. */
  async create(meeting: NewMeeting): Promise<MeetingInfo> {
    const info = newMeetingInfo(meeting);
    await this.redis.set(keys.info(info.meetingId), JSON.stringify(info), 'EX', this.ttlSeconds, 'NX');
    const stored = await this.get(info.meetingId);
    if (!stored) throw new Error(`meeting ${info.meetingId} could not be stored`);
    return stored;
  }

  async get(meetingId: string): Promise<MeetingInfo | null> {
    const raw = await this.redis.get(keys.info(meetingId));
    return raw === null ? null : MeetingInfoSchema.parse(JSON.parse(raw));
  }

  /** Read-modify-write under WATCH, so concurrent writers (agent, webhook, API) never lose a field. */
  async update(meetingId: string, change: (info: MeetingInfo) => MeetingInfo): Promise<MeetingInfo> {
    const key = keys.info(meetingId);
    for (let attempt = 0; attempt < 50; attempt++) {
      await this.redis.watch(key);
      const raw = await this.redis.get(key);
      if (raw === null) {
        await this.redis.unwatch();
        throw new Error(`unknown meeting ${meetingId}`);
      }
      const next = MeetingInfoSchema.parse(change(MeetingInfoSchema.parse(JSON.parse(raw))));
      const result = await this.redis.multi().set(key, JSON.stringify(next), 'EX', this.ttlSeconds).exec();
      if (result !== null) return next;
    }
    throw new Error(`meeting ${meetingId} is being updated by too many writers`);
  }

  /** Records the end once: the first reason and time win; segment counts are merged (max). */
  async markEnded(meetingId: string, reason: EndReason, segmentCounts?: Record<string, number>): Promise<MeetingInfo> {
    return this.update(meetingId, (info) => withEnd(info, reason, segmentCounts));
  }

  async upsertParticipant(meetingId: string, participant: MeetingParticipant): Promise<void> {
    const key = keys.participants(meetingId);
    await this.redis.multi().hset(key, participant.identity, JSON.stringify(MeetingParticipantSchema.parse(participant))).expire(key, this.ttlSeconds).exec();
  }

  async participants(meetingId: string): Promise<StoredParticipant[]> {
    const all = await this.redis.hvals(keys.participants(meetingId));
    return all.map((v) => MeetingParticipantSchema.parse(JSON.parse(v)));
  }

  /** Stores a segment once; returns false when that segment id was already stored. */
  async addSegment(segment: TranscriptSegment): Promise<boolean> {
    const valid = TranscriptSegmentSchema.parse(segment);
    const key = keys.segments(valid.meetingId);
    const replies = await this.redis.multi().hsetnx(key, valid.segmentId, JSON.stringify(valid)).expire(key, this.ttlSeconds).exec();
    const [err, added] = replies?.[0] ?? [new Error('the segment write was discarded'), 0];
    if (err) throw err;
    return added === 1;
  }

  /** All segments, in meeting-time order (ties: by participant, then sequence). */
  async segments(meetingId: string): Promise<TranscriptSegment[]> {
    const all = (await this.redis.hvals(keys.segments(meetingId))).map((v) => TranscriptSegmentSchema.parse(JSON.parse(v)));
    return all.sort((a, b) => a.startMs - b.startMs || a.participant.identity.localeCompare(b.participant.identity) || a.sequence - b.sequence);
  }

  async addEvent(meetingId: string, event: MeetingEvent): Promise<void> {
    const key = keys.events(meetingId);
    await this.redis.multi().rpush(key, JSON.stringify(MeetingEventSchema.parse(event))).expire(key, this.ttlSeconds).exec();
  }

  async events(meetingId: string): Promise<MeetingEvent[]> {
    return (await this.redis.lrange(keys.events(meetingId), 0, -1)).map((v) => MeetingEventSchema.parse(JSON.parse(v)));
  }

  /** Records what became of one recipient's email (keyed by recipientKey); the last outcome wins. */
  async recordDelivery(meetingId: string, recipientKey: string, delivery: Delivery): Promise<void> {
    const key = keys.deliveries(meetingId);
    await this.redis.multi().hset(key, recipientKey, JSON.stringify(DeliverySchema.parse(delivery))).expire(key, this.ttlSeconds).exec();
  }

  /** Every recipient's outcome, by recipient key. */
  async deliveries(meetingId: string): Promise<Record<string, Delivery>> {
    const raw = await this.redis.hgetall(keys.deliveries(meetingId));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, DeliverySchema.parse(JSON.parse(v))]));
  }

  /** The meeting currently transcribed in a room, if any. */
  async currentMeetingOfRoom(room: string): Promise<string | null> {
    return this.redis.get(roomKeys.claim(room));
  }

  /**
   * Claims a room for a meeting; returns the meeting id that holds it (the existing one if taken).
   * With `holderIsOver`, a claim held by another meeting for which it answers true (a meeting that
   * ended without releasing the room) is released, only if still held by that meeting, and taken over.
   */
  async claimRoom(room: string, meetingId: string, holderIsOver?: (holder: string) => Promise<boolean>): Promise<string> {
    const held = await this.#setClaim(room, meetingId);
    if (held === meetingId || !holderIsOver || !(await holderIsOver(held))) return held;
    await this.releaseRoom(room, held);
    return this.#setClaim(room, meetingId);
  }

  async #setClaim(room: string, meetingId: string): Promise<string> {
    const ok = await this.redis.set(roomKeys.claim(room), meetingId, 'EX', this.ttlSeconds, 'NX');
    return ok === 'OK' ? meetingId : ((await this.redis.get(roomKeys.claim(room))) ?? meetingId);
  }

  /** Frees a room, only if it is still held by that meeting. */
  async releaseRoom(room: string, meetingId: string): Promise<void> {
    await releaseRoomKey(this.redis, roomKeys.claim(room), meetingId);
  }

  /**
   * Keeps every key of the meeting (this store's, the agent's, the mailer's, the API's) for as long
   * as its artefacts, from now: called once the meeting is done or has failed for good.
   */
  async expireAll(meetingId: string): Promise<void> {
    await expireMeetingKeys(this.redis, meetingId, this.ttlSeconds);
  }

  /**
   * Right to erasure: removes every Redis key of the meeting (src/meeting/redis-keys.ts), whoever
   * wrote it, and the room keys still pointing at it. Returns the number of keys removed.
   */
  async erase(meetingId: string): Promise<number> {
    const info = await this.get(meetingId);
    return eraseMeetingKeys(this.redis, meetingId, info?.room ?? null);
  }
}

/**
 * What the pipeline's steps (segment, finalize and email workers, the recording mode) need of a
 * meeting's state: MeetingStore in Redis, or MemoryMeetingStore inside one `transcribe` process.
 */
export type MeetingStateStore = Pick<
  MeetingStore,
  'create' | 'get' | 'update' | 'markEnded' | 'upsertParticipant' | 'participants' | 'addSegment' | 'segments' | 'events' | 'expireAll' | 'recordDelivery' | 'deliveries'
>;
