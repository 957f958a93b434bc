/**
 * A meeting's agent that is LOST (its process died: a native crash, an out-of-memory kill, a host
 * gone; or its connection timed out) is dispatched again to the same room for the same meeting,
 * and the new agent continues it: sequence numbers and segment ids come from Redis
 * (src/agent/sequence-counter.ts), so no line is repeated. An agent that left on its own, was
 * removed, or whose room closed ends the meeting as before.
 *
 * The OSS LiveKit server does not do this itself: it forgets the jobs of a worker it lost
 * (livekit/livekit `pkg/service/agentservice.go`, `deregisterJob`: "TODO update dispatch state").
 *
 * How a loss is told from a leave: LiveKit's `participant_left` webhook carries the participant's
 * `disconnectReason` (LiveKit 1.13.5, seen here): `CLIENT_INITIATED` when the agent disconnected
 * itself (every end of its own: stop, empty room, maximum duration, a failed room; it marks the
 * meeting ended in Redis before it leaves), `PARTICIPANT_REMOVED` for a stop's removal,
 * `ROOM_DELETED`/`ROOM_CLOSED` when the room goes, and `CONNECTION_TIMEOUT` about 19 s after its
 * process was SIGKILLed (nothing said goodbye). Both signals must agree before a re-dispatch: a
 * loss reason AND the meeting still running in Redis.
 */
import { DisconnectReason } from '@livekit/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging.js';
import type { MeetingStore } from '../meeting/meeting-store.js';
import { meetingKeys } from '../meeting/redis-keys.js';
import { stopRequested } from '../meeting/stop-signal.js';
import { agentRecoveries } from '../metrics.js';
import { isAgentOf, isHuman, type LiveKitControl } from './livekit-control.js';
import { isLive, type Transcriptions } from './transcriptions.js';

/**
 * Disconnect reasons that mean the agent did not leave on purpose: no goodbye within LiveKit's
 * timeout (a dead process), its signal connection closed unexpectedly, or LiveKit lost track of its
 * session. Every other reason (its own leave, a removal, the room closing, the server shutting
 * down, unknown) ends the meeting as before.
 */
const LOST: ReadonlySet<DisconnectReason> = new Set([
  DisconnectReason.CONNECTION_TIMEOUT,
  DisconnectReason.SIGNAL_CLOSE,
  DisconnectReason.STATE_MISMATCH,
  DisconnectReason.MEDIA_FAILURE,
]);

export interface AgentRecoveryOptions {
  /** Re-dispatches of one meeting allowed within `windowMs`; the next loss ends the meeting (default 3). */
  maxRedispatches?: number;
  /** The window the bound counts in, in ms (default 30 minutes). */
  windowMs?: number;
  /**
   * When to check that a worker took the re-dispatch, in ms (default 30 s; an agent joins in 2-5 s
   * here, under load). LiveKit drops a dispatch when no worker is registered at that moment (a lone
   * worker still restarting): the meeting is then dispatched again, within the same bound. A
   * dispatch a worker took is never sent twice (two agents would transcribe every line twice).
   */
  rejoinTimeoutMs?: number;
  now?: () => number;
}

/** What the report of the agent's departure did, as the webhook answers it. */
export type AgentLeftAction = 'agent_redispatched' | 'meeting_ended' | 'ignored';

export interface AgentLeft {
  room: string;
  /** The room instance the webhook is about (its sid). */
  roomSid: string | null;
  meetingId: string;
  /** The departed agent participant's sid: a loss is handled once per participant. */
  participantSid: string;
  disconnectReason: DisconnectReason;
}

export class AgentRecovery {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #rejoinTimeoutMs: number;
  /** Checks that a re-dispatched agent joined, by meeting (this API instance's; lost if it stops). */
  readonly #rejoinChecks = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly d: { redis: Redis; store: MeetingStore; livekit: LiveKitControl; transcriptions: Transcriptions; logger: Logger },
    options: AgentRecoveryOptions = {},
  ) {
    this.#max = options.maxRedispatches ?? 3;
    this.#windowMs = options.windowMs ?? 30 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#rejoinTimeoutMs = options.rejoinTimeoutMs ?? 30_000;
  }

  /** Cancels the pending rejoin checks (the API is shutting down). */
  close(): void {
    for (const timer of this.#rejoinChecks.values()) clearTimeout(timer);
    this.#rejoinChecks.clear();
  }

  /**
   * The meeting's agent left the room (a verified `participant_left`): dispatches it again when it
   * was lost and the meeting can go on, else ends the meeting as before. Throws when LiveKit or
   * Redis do not answer (the webhook then fails and LiveKit's retry is processed).
   */
  async agentLeft(e: AgentLeft): Promise<AgentLeftAction> {
    const { meetingId } = e;
    const log = this.d.logger.child({ meetingId, lostParticipant: e.participantSid, disconnectReason: DisconnectReason[e.disconnectReason] ?? e.disconnectReason });
    const info = await this.d.store.get(meetingId);
    // Ended already (by its agent, a stop, the room), or erased: nothing to recover.
    if (!info || !isLive(info)) return 'ignored';
    // A room name can be reused: an old room instance's agent says nothing about this meeting.
    if (e.roomSid && info.roomSid && info.roomSid !== e.roomSid) return 'ignored';

    if (!LOST.has(e.disconnectReason)) {
      agentRecoveries.inc({ outcome: 'left' });
      return this.#end(e, 'agent_left', log, 'meeting ended: agent left');
    }
    // A host stop in flight (the signal is written before the meeting is marked ended) ends it.
    if (await stopRequested(this.d.redis, meetingId)) return 'ignored';

    const openSid = await this.d.livekit.roomSid(e.room);
    if (!openSid || (info.roomSid && openSid !== info.roomSid)) {
      agentRecoveries.inc({ outcome: 'room_gone' });
      return this.#end(e, 'room_finished', log, 'agent lost and its room is gone: meeting ended');
    }
    const present = await this.d.livekit.participants(e.room);
    // A late report: the agent is back already (a re-dispatch for an earlier report).
    if (present.some((p) => isAgentOf(p, meetingId) && p.sid !== e.participantSid)) {
      agentRecoveries.inc({ outcome: 'agent_present' });
      return 'ignored';
    }
    if (!present.some(isHuman)) {
      agentRecoveries.inc({ outcome: 'no_human' });
      return this.#end(e, 'last_participant_left', log, 'agent lost and no one is left in the room: meeting ended');
    }

    const key = meetingKeys.recoveries(meetingId);
    const now = this.#now();
    const results = await this.d.redis
      .multi()
      .zadd(key, 'NX', now, e.participantSid)
      .zremrangebyscore(key, '-inf', now - this.#windowMs)
      .expire(key, this.d.store.ttlSeconds)
      .exec();
    const [failed, added] = results?.[0] ?? [new Error('the recovery record was not written'), null];
    if (failed) throw failed;
    if (added === 0) {
      agentRecoveries.inc({ outcome: 'duplicate' });
      return 'ignored';
    }
    const attempt = await this.d.redis.zcount(key, now - this.#windowMs, '+inf');
    if (attempt > this.#max) {
      agentRecoveries.inc({ outcome: 'bound_reached' });
      log.warn({ attempt, max: this.#max, windowMinutes: this.#windowMs / 60_000 }, 'agent lost once more than allowed: meeting ended instead of dispatching it again');
      return this.#end(e, 'agent_left', log, null);
    }
    try {
      const dispatchId = await this.d.transcriptions.redispatch(info);
      agentRecoveries.inc({ outcome: 'redispatched' });
      log.warn({ attempt, max: this.#max, dispatchId }, 'agent lost: dispatched again to continue the meeting');
      this.#checkRejoin(e, dispatchId);
      return 'agent_redispatched';
    } catch (err) {
      // Forget this loss, so that LiveKit's retry of the webhook tries again.
      await this.d.redis.zrem(key, e.participantSid).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Once `rejoinTimeoutMs` has passed, a re-dispatch that no worker took (and whose meeting has no
   * agent in the room) is handled as a loss once more: dispatched again, or the meeting ended, by
   * the same rules and bound.
   */
  #checkRejoin(e: AgentLeft, dispatchId: string): void {
    clearTimeout(this.#rejoinChecks.get(e.meetingId));
    const timer = setTimeout(() => {
      this.#rejoinChecks.delete(e.meetingId);
      void this.#unanswered(e.room, e.meetingId, dispatchId)
        .then((lost) => (lost ? this.agentLeft({ ...e, participantSid: `unanswered-${dispatchId}`, disconnectReason: DisconnectReason.CONNECTION_TIMEOUT }) : 'ignored'))
        .catch((err: unknown) => this.d.logger.warn({ meetingId: e.meetingId, err }, 'could not check that the agent came back'));
    }, this.#rejoinTimeoutMs);
    timer.unref();
    this.#rejoinChecks.set(e.meetingId, timer);
  }

  async #unanswered(room: string, meetingId: string, dispatchId: string): Promise<boolean> {
    if ((await this.d.livekit.participants(room)).some((p) => isAgentOf(p, meetingId))) return false;
    return !(await this.d.livekit.dispatchTaken(room, dispatchId));
  }

  async #end(e: AgentLeft, reason: 'agent_left' | 'room_finished' | 'last_participant_left', log: Logger, message: string | null): Promise<AgentLeftAction> {
    if (!(await this.d.transcriptions.endFromLiveKit(e.meetingId, reason, e.roomSid))) return 'ignored';
    if (message) log.info({ reason }, message);
    return 'meeting_ended';
  }
}
