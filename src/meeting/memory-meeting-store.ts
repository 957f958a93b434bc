/**
 * A meeting's state inside one process, for `meeting-agent transcribe` run without REDIS_URL: the
 * same operations and validation as MeetingStore (Redis), so the pipeline's finalisation and email
 * steps run on it unchanged. Nothing outlives the process, so there is nothing to expire or erase.
 */
import { TranscriptSegmentSchema, type TranscriptSegment } from './segment.js';
import type { EndReason, MeetingEvent } from './meeting-events.js';
import {
  DeliverySchema,
  MeetingInfoSchema,
  MeetingParticipantSchema,
  newMeetingInfo,
  withEnd,
  type Delivery,
  type MeetingInfo,
  type MeetingParticipant,
  type MeetingStateStore,
  type StoredParticipant,
  type NewMeeting,
} from './meeting-store.js';

export class MemoryMeetingStore implements MeetingStateStore {
  readonly #info = new Map<string, MeetingInfo>();
  readonly #participants = new Map<string, Map<string, StoredParticipant>>();
  readonly #segments = new Map<string, Map<string, TranscriptSegment>>();
  readonly #deliveries = new Map<string, Map<string, Delivery>>();

  async create(meeting: NewMeeting): Promise<MeetingInfo> {
    const existing = this.#info.get(meeting.meetingId);
    if (existing) return existing;
    const info = newMeetingInfo(meeting);
    this.#info.set(info.meetingId, info);
    return info;
  }

  async get(meetingId: string): Promise<MeetingInfo | null> {
    return this.#info.get(meetingId) ?? null;
  }

  async update(meetingId: string, change: (info: MeetingInfo) => MeetingInfo): Promise<MeetingInfo> {
    const info = this.#info.get(meetingId);
    if (!info) throw new Error(`unknown meeting ${meetingId}`);
    const next = MeetingInfoSchema.parse(change(structuredClone(info)));
    this.#info.set(meetingId, next);
    return next;
  }

  async markEnded(meetingId: string, reason: EndReason, segmentCounts?: Record<string, number>): Promise<MeetingInfo> {
    return this.update(meetingId, (info) => withEnd(info, reason, segmentCounts));
  }

  async upsertParticipant(meetingId: string, participant: MeetingParticipant): Promise<void> {
    mapOf(this.#participants, meetingId).set(participant.identity, MeetingParticipantSchema.parse(participant));
  }

  async participants(meetingId: string): Promise<StoredParticipant[]> {
    return [...(this.#participants.get(meetingId)?.values() ?? [])];
  }

  async addSegment(segment: TranscriptSegment): Promise<boolean> {
    const valid = TranscriptSegmentSchema.parse(segment);
    const segments = mapOf(this.#segments, valid.meetingId);
    if (segments.has(valid.segmentId)) return false;
    segments.set(valid.segmentId, valid);
    return true;
  }

  async segments(meetingId: string): Promise<TranscriptSegment[]> {
    const all = [...(this.#segments.get(meetingId)?.values() ?? [])];
    return all.sort((a, b) => a.startMs - b.startMs || a.participant.identity.localeCompare(b.participant.identity) || a.sequence - b.sequence);
  }

  /** A recording has no join/leave/opt-out events. */
  async events(): Promise<MeetingEvent[]> {
    return [];
  }

  /** Nothing outlives the process. */
  async expireAll(): Promise<void> {}

  async recordDelivery(meetingId: string, recipientKey: string, delivery: Delivery): Promise<void> {
    mapOf(this.#deliveries, meetingId).set(recipientKey, DeliverySchema.parse(delivery));
  }

  async deliveries(meetingId: string): Promise<Record<string, Delivery>> {
    return Object.fromEntries(this.#deliveries.get(meetingId) ?? []);
  }
}

/** SentMarkers' contract in memory (the email step's "already sent" check). */
export class MemorySentMarkers {
  readonly #sent = new Map<string, string>();

  async wasSent(meetingId: string, recipientKey: string): Promise<boolean> {
    return this.#sent.has(`${meetingId}\n${recipientKey}`);
  }

  async markSent(meetingId: string, recipientKey: string, messageId: string): Promise<void> {
    this.#sent.set(`${meetingId}\n${recipientKey}`, messageId);
  }
}

function mapOf<V>(maps: Map<string, Map<string, V>>, meetingId: string): Map<string, V> {
  let m = maps.get(meetingId);
  if (!m) {
    m = new Map();
    maps.set(meetingId, m);
  }
  return m;
}
