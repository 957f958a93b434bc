/**
 * Start, stop and read a room's transcription; read and erase a meeting. The meeting store (Redis)
 * is the shared truth: the API creates the meeting and claims the room before dispatching, so two
 * concurrent starts end up with one meeting and one agent.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { requestStop } from '../meeting/stop-signal.js';
import type { Logger } from '../logging.js';
import type { MeetingInfo, MeetingStore } from '../meeting/meeting-store.js';
import { meetingKeys, roomKeys } from '../meeting/redis-keys.js';
import { transcriptionStarts, transcriptionStops } from '../metrics.js';
import type { MeetingQueues } from '../pipelines/queues/producers.js';
import type { MeetingArtifacts } from './artifacts.js';
import type { Caller } from './auth.js';
import { ApiError } from './errors.js';
import type { LiveKitControl } from './livekit-control.js';
import type { MeetingView, RoomTranscription, StartTranscriptionBody, TranscriptionState } from './schemas.js';
import type { CachedSttProbe } from './stt-probe.js';

// The API's own bookkeeping, beside the meeting store's keys (spelled, and erased, in src/meeting/redis-keys.ts).
const apiKeys = { meeting: meetingKeys.api, lastMeeting: roomKeys.lastMeeting };

export interface TranscriptionsDeps {
  redis: Redis;
  store: MeetingStore;
  queues: MeetingQueues;
  livekit: LiveKitControl;
  stt: CachedSttProbe;
  artifacts: MeetingArtifacts;
  defaultLanguage: string;
  /** Time the agent gets to finish on its own after a stop before it is removed from the room. */
  stopGraceMs: number;
  logger: Logger;
}

/** The state a user sees, derived from the store's status and whether the meeting has ended. */
export function stateOf(info: MeetingInfo): Exclude<TranscriptionState, 'idle'> {
  if (info.status === 'failed' || info.status === 'done' || info.status === 'finalising') return info.status;
  return info.endedAt ? 'finalising' : info.status;
}

/** The meeting is being transcribed, or about to be (its agent dispatched, not ended). */
export const isLive = (info: MeetingInfo) => stateOf(info) === 'starting' || stateOf(info) === 'active';

export function roomView(room: string, info: MeetingInfo | null): RoomTranscription {
  if (!info) return { room, state: 'idle', meetingId: null, language: null, createdAt: null, startedAt: null, endedAt: null, endReason: null };
  return {
    room,
    state: stateOf(info),
    meetingId: info.meetingId,
    language: info.language,
    createdAt: info.createdAt,
    startedAt: info.startedAt,
    endedAt: info.endedAt,
    endReason: info.endReason,
  };
}

export class Transcriptions {
  readonly #pendingRemovals = new Map<string, { timer: NodeJS.Timeout; run: () => Promise<void> }>();

  constructor(private readonly d: TranscriptionsDeps) {}

  /**
   * The meeting of the room's open instance: the one holding the room, else the last one started
   * there (ended). A meeting of an earlier instance of the same name is not this room's: null then,
   * as when the room is not open at all. `roomSid`: the open instance's sid, if already looked up.
   */
  async meetingOfRoom(room: string, roomSid?: string | null): Promise<MeetingInfo | null> {
    const sid = roomSid === undefined ? await this.openRoomSid(room) : roomSid;
    if (!sid) return null;
    for (const id of await this.meetingIdsOfRoom(room)) {
      const info = await this.d.store.get(id);
      if (info?.room === room && info.roomSid === sid) return info;
    }
    return null;
  }

  /** The sid of the room's open instance (null: not open); 503 when LiveKit does not answer. */
  async openRoomSid(room: string): Promise<string | null> {
    try {
      return await this.d.livekit.roomSid(room);
    } catch {
      throw new ApiError(503, 'livekit_unavailable', 'The LiveKit server did not answer; nothing was done, try again shortly.', undefined, { 'retry-after': '10' });
    }
  }

  async state(room: string): Promise<RoomTranscription> {
    return roomView(room, await this.meetingOfRoom(room));
  }

  async start(room: string, caller: Caller, body: StartTranscriptionBody): Promise<{ created: boolean; view: RoomTranscription }> {
    const { requester, extraRecipients } = this.#recipients(caller, body);

    const roomSid = await this.openRoomSid(room);
    if (!roomSid) {
      transcriptionStarts.inc({ outcome: 'room_not_found' });
      throw new ApiError(404, 'room_not_found', 'There is no open room with this name; start the transcription once the meeting has begun.');
    }

    const existing = await this.meetingOfRoom(room, roomSid);
    if (existing && isLive(existing)) {
      transcriptionStarts.inc({ outcome: 'already_running' });
      return { created: false, view: roomView(room, existing) };
    }

    const probe = await this.d.stt.check();
    if (!probe.ok) {
      transcriptionStarts.inc({ outcome: 'stt_unavailable' });
      this.d.logger.warn({ detail: probe.detail }, 'speech-to-text probe failed; start refused');
      throw new ApiError(503, 'stt_unavailable', `Transcription cannot start: ${probe.reason}. No agent was sent.`, undefined, { 'retry-after': '30' });
    }

    // Created before the room is claimed, so whoever sees the claim can read the meeting.
    const meetingId = randomUUID();
    const info = await this.d.store.create({
      meetingId,
      room,
      roomSid,
      language: body.language ?? this.d.defaultLanguage,
      requester,
      glossary: body.glossary ?? [],
      extraRecipients,
      status: 'starting',
    });
    const held = await this.#claimRoom(room, meetingId, roomSid);
    if (held !== meetingId) {
      // Another start won the race: ours was never dispatched, drop it and answer with theirs.
      await this.d.store.erase(meetingId);
      transcriptionStarts.inc({ outcome: 'already_running' });
      return { created: false, view: roomView(room, await this.d.store.get(held)) };
    }
    await this.d.redis
      .set(apiKeys.lastMeeting(room), meetingId, 'EX', this.d.store.ttlSeconds);

    try {
      const dispatchId = await this.#dispatch(info);
      this.d.logger.info({ meetingId, dispatchId, caller: caller.kind }, 'agent dispatched');
    } catch (e) {
      this.d.logger.error({ meetingId, err: e }, 'dispatch failed');
      await this.d.store.update(meetingId, (m) => ({ ...m, status: 'failed', failure: 'the agent could not be dispatched' }));
      await this.d.store.releaseRoom(room, meetingId);
      transcriptionStarts.inc({ outcome: 'dispatch_failed' });
      throw new ApiError(502, 'dispatch_failed', 'LiveKit refused to dispatch the agent; the transcription did not start.');
    }
    transcriptionStarts.inc({ outcome: 'dispatched' });
    return { created: true, view: roomView(room, info) };
  }

  /**
   * Stop: the agent is told at once (Redis stop signal), the meeting is marked ended and queued for
   * finalisation; after a grace period (the agent finishing its last utterances) its dispatch is
   * deleted and, if it is still in the room, it is removed, so it leaves even if it missed the signal.
   */
  async stop(room: string): Promise<{ stopped: boolean; view: RoomTranscription }> {
    const info = await this.meetingOfRoom(room);
    if (!info) throw new ApiError(404, 'not_transcribing', 'No transcription was started in this room.');
    if (!isLive(info)) return { stopped: false, view: roomView(room, info) };

    const meetingId = info.meetingId;
    await requestStop(this.d.redis, meetingId);
    await this.d.queues.endMeeting(this.d.store, meetingId, 'host_stop');
    transcriptionStops.inc();
    // An agent that has not joined yet has nothing to finish: cancel its dispatch right away.
    this.#scheduleRemoval(room, meetingId, info.startedAt ? this.d.stopGraceMs : 0);
    this.d.logger.info({ meetingId }, 'transcription stopped by request');
    return { stopped: true, view: roomView(room, await this.d.store.get(meetingId)) };
  }

  /**
   * Sends the meeting's agent again to its room (its previous one was lost, src/api/agent-recovery.ts),
   * with the meeting's own dispatch metadata: the new agent continues the same meeting. Returns the
   * new dispatch id; throws when LiveKit refuses.
   */
  async redispatch(info: MeetingInfo): Promise<string> {
    return this.#dispatch(info);
  }

  /**
   * Handles an end signal from LiveKit (room finished, agent left, or a lost agent whose room has no
   * one left); false when nothing was running.
   */
  async endFromLiveKit(meetingId: string, reason: 'room_finished' | 'agent_left' | 'last_participant_left', roomSid: string | null): Promise<boolean> {
    const info = await this.d.store.get(meetingId);
    if (!info || info.endedAt || !isLive(info)) return false;
    // A room name can be reused: an old room instance's end must not end a newer meeting.
    if (roomSid && info.roomSid && info.roomSid !== roomSid) return false;
    await this.d.queues.endMeeting(this.d.store, meetingId, reason);
    if (info.room) {
      if (reason === 'room_finished') await this.d.store.releaseRoom(info.room, meetingId);
      else this.#scheduleRemoval(info.room, meetingId, 0);
    }
    return true;
  }

  /** Meetings a room_finished may concern: the one holding the room and the last one started there. */
  async meetingIdsOfRoom(room: string): Promise<string[]> {
    const ids = [await this.d.store.currentMeetingOfRoom(room), await this.d.redis.get(apiKeys.lastMeeting(room))];
    return [...new Set(ids.filter((x): x is string => !!x))];
  }

  async meetingView(info: MeetingInfo): Promise<MeetingView> {
    const state = stateOf(info);
    return {
      meetingId: info.meetingId,
      room: info.room,
      state,
      language: info.language,
      createdAt: info.createdAt,
      startedAt: info.startedAt,
      endedAt: info.endedAt,
      endReason: info.endReason,
      failure: info.failure,
      artifacts: state === 'done' ? await this.d.artifacts.links(info.meetingId) : [],
    };
  }

  /**
   * Right to erasure: S3 folder, every Redis key of the meeting, the jobs that carry its transcript
   * or addresses (src/pipelines/erase-meeting.ts). A meeting still running or being finalised is
   * refused (its writers would recreate what was erased). 404 only when nothing at all was found:
   * a meeting whose state expired still has its leftovers erased, and that answers 204.
   */
  async erase(meetingId: string, info: MeetingInfo | null): Promise<{ objects: number; redisKeys: number }> {
    if (info && (isLive(info) || stateOf(info) === 'finalising')) {
      throw new ApiError(409, 'meeting_in_progress', 'The meeting is still being transcribed or finalised; stop it and erase it once it is done or failed.');
    }
    // Every key of the meeting (the agent's, the API's, the mailer's) goes with it: src/meeting/redis-keys.ts.
    const { objects, redisKeys, jobs, queueEvents, activeJobs } = await this.d.artifacts.erase(meetingId);
    if (objects === 0 && redisKeys === 0 && jobs === 0 && queueEvents === 0) throw new ApiError(404, 'meeting_not_found', 'No meeting with this id.');
    this.d.logger.info({ meetingId, objects, redisKeys, jobs, queueEvents, activeJobs }, 'meeting erased');
    if (activeJobs > 0) {
      throw new ApiError(409, 'erasure_incomplete', `Everything else was erased, but ${activeJobs} job(s) of this meeting are running now; call DELETE again once they have ended.`);
    }
    return { objects, redisKeys };
  }

  /** Runs the pending agent removals now (shutdown: the process will not be there to run them). */
  async close(): Promise<void> {
    const pending = [...this.#pendingRemovals.values()];
    this.#pendingRemovals.clear();
    for (const p of pending) clearTimeout(p.timer);
    await Promise.allSettled(pending.map((p) => p.run()));
  }

  #recipients(caller: Caller, body: StartTranscriptionBody): { requester: MeetingInfo['requester']; extraRecipients: string[] } {
    const recipients = [...new Set((body.recipients ?? []).map((r) => r.toLowerCase()))];
    if (caller.kind === 'service') {
      const r = body.requester;
      return { requester: r ? { identity: r.identity ?? null, email: r.email ?? null } : null, extraRecipients: recipients };
    }
    if (body.requester) throw new ApiError(403, 'requester_not_allowed', 'A host is the requester; only a service key may start on behalf of someone.');
    const own = caller.email?.toLowerCase() ?? null;
    const others = recipients.filter((r) => r !== own);
    if (others.length > 0) {
      throw new ApiError(403, 'recipients_not_allowed', 'A host may only add their own address as a recipient; the participants receive the minutes anyway.');
    }
    // The host's own address comes from their signed token (attribute `email`), as the requester.
    return { requester: { identity: caller.identity, email: caller.email }, extraRecipients: [] };
  }

  /**
   * Claims the room; a claim left by a meeting that is over, or by a meeting of an earlier
   * instance of the room (closed since, so over too), is taken over.
   */
  async #claimRoom(room: string, meetingId: string, roomSid: string): Promise<string> {
    return this.d.store.claimRoom(room, meetingId, async (holder) => {
      const other = await this.d.store.get(holder);
      if (!other || !isLive(other)) return true;
      if (!other.roomSid || other.roomSid === roomSid) return false;
      // Its room instance closed without our hearing of it (a lost webhook): it is over, finalise it.
      await this.d.queues.endMeeting(this.d.store, holder, 'room_finished');
      return true;
    });
  }

  /** Dispatches the meeting's agent to its room and records the dispatch id (the stop deletes it). */
  async #dispatch(info: MeetingInfo): Promise<string> {
    if (!info.room) throw new Error('the meeting has no room to dispatch its agent to');
    const dispatchId = await this.d.livekit.dispatch(info.room, {
      meetingId: info.meetingId,
      language: info.language,
      requester: info.requester,
      glossary: info.glossary,
    });
    const key = apiKeys.meeting(info.meetingId);
    await this.d.redis.multi().hset(key, 'dispatchId', dispatchId).expire(key, this.d.store.ttlSeconds).exec();
    return dispatchId;
  }

  #scheduleRemoval(room: string, meetingId: string, delayMs: number): void {
    if (this.#pendingRemovals.has(meetingId)) return;
    const run = async () => {
      this.#pendingRemovals.delete(meetingId);
      try {
        const dispatchId = await this.d.redis.hget(apiKeys.meeting(meetingId), 'dispatchId');
        const removed = await this.d.livekit.removeAgent(room, meetingId, dispatchId);
        await this.d.store.releaseRoom(room, meetingId);
        this.d.logger.info({ meetingId, ...removed }, 'agent dispatch cleared');
      } catch (e) {
        this.d.logger.warn({ meetingId, err: e }, 'could not clear the agent dispatch');
      }
    };
    const timer = setTimeout(() => void run(), delayMs);
    timer.unref();
    this.#pendingRemovals.set(meetingId, { timer, run });
  }
}
