/**
 * LiveKit's webhooks: the room closing finalises the meeting; the meeting's agent leaving does too,
 * unless it was lost (its process died), when it is dispatched again (src/api/agent-recovery.ts).
 * A webhook is trusted only if LiveKit signed it (a JWT from our API key and secret carrying the
 * body's SHA-256), is fresh, and was not seen before: a forged, altered or replayed one changes
 * nothing.
 */
import { AGENT_ATTR } from '../meeting/livekit-contract.js';
import type { Redis } from 'ioredis';
import { WebhookReceiver, type WebhookEvent } from 'livekit-server-sdk';
import type { Logger } from '../logging.js';
import { webhookSeenKey } from '../meeting/redis-keys.js';
import { webhooksReceived } from '../metrics.js';
import type { AgentRecovery } from './agent-recovery.js';
import { ApiError } from './errors.js';
import { isAgent } from './livekit-control.js';
import type { Transcriptions } from './transcriptions.js';

const seenKey = webhookSeenKey;

export interface WebhookOptions {
  /** Older events are refused as replays (LiveKit delivers within seconds; it retries for a while). */
  maxAgeSeconds?: number;
  /** How long an event id is remembered; must exceed maxAgeSeconds. */
  seenTtlSeconds?: number;
  now?: () => number;
}

export class WebhookHandler {
  readonly #receiver: WebhookReceiver;
  readonly #maxAge: number;
  readonly #seenTtl: number;
  readonly #now: () => number;

  constructor(
    apiKey: string,
    apiSecret: string,
    private readonly redis: Redis,
    private readonly transcriptions: Transcriptions,
    private readonly recovery: AgentRecovery,
    private readonly logger: Logger,
    options: WebhookOptions = {},
  ) {
    this.#receiver = new WebhookReceiver(apiKey, apiSecret);
    this.#maxAge = options.maxAgeSeconds ?? 600;
    this.#seenTtl = Math.max(options.seenTtlSeconds ?? 24 * 3600, this.#maxAge * 2);
    this.#now = options.now ?? Date.now;
  }

  async handle(rawBody: string, authorization: string | undefined): Promise<{ action: string }> {
    let event: WebhookEvent;
    try {
      // LiveKit sends the bare JWT; accept a "Bearer " prefix too.
      event = await this.#receiver.receive(rawBody, authorization?.replace(/^Bearer\s+/i, ''), false, 5);
    } catch {
      webhooksReceived.inc({ event: 'unknown', outcome: 'rejected' });
      throw new ApiError(401, 'invalid_webhook', 'The webhook signature is missing or does not match its body.');
    }
    const name = event.event || 'unknown';
    if (!event.id) {
      webhooksReceived.inc({ event: name, outcome: 'rejected' });
      throw new ApiError(401, 'invalid_webhook', 'The webhook carries no event id.');
    }
    const ageSeconds = this.#now() / 1000 - Number(event.createdAt);
    if (!(ageSeconds < this.#maxAge && ageSeconds > -60)) {
      webhooksReceived.inc({ event: name, outcome: 'replayed' });
      throw new ApiError(401, 'webhook_expired', 'The webhook is too old (or from the future) to be trusted.');
    }
    const first = await this.redis.set(seenKey(event.id), '1', 'EX', this.#seenTtl, 'NX');
    if (first !== 'OK') {
      webhooksReceived.inc({ event: name, outcome: 'replayed' });
      throw new ApiError(401, 'webhook_replayed', 'This webhook was already received.');
    }

    try {
      const action = await this.#apply(event);
      webhooksReceived.inc({ event: name, outcome: action === 'ignored' ? 'ignored' : 'processed' });
      return { action };
    } catch (e) {
      // Forget the id, so LiveKit's retry of this event is processed instead of refused.
      await this.redis.del(seenKey(event.id)).catch(() => undefined);
      webhooksReceived.inc({ event: name, outcome: 'failed' });
      this.logger.error({ event: name, eventId: event.id, err: e }, 'webhook processing failed');
      throw new ApiError(503, 'webhook_failed', 'The webhook could not be processed now; retry later.');
    }
  }

  async #apply(event: WebhookEvent): Promise<string> {
    const room = event.room?.name;
    if (!room) return 'ignored';
    if (event.event === 'room_finished') {
      let ended = 0;
      for (const meetingId of await this.transcriptions.meetingIdsOfRoom(room)) {
        if (await this.transcriptions.endFromLiveKit(meetingId, 'room_finished', event.room?.sid || null)) {
          ended++;
          this.logger.info({ meetingId, event: event.event }, 'meeting ended: room finished');
        }
      }
      return ended > 0 ? 'meeting_ended' : 'ignored';
    }
    if (event.event === 'participant_left' && event.participant && isAgent(event.participant)) {
      const meetingId = event.participant.attributes[AGENT_ATTR.meetingId];
      if (!meetingId) return 'ignored';
      const ids = await this.transcriptions.meetingIdsOfRoom(room);
      // Only a meeting of this very room: the attribute alone must not end another room's meeting.
      if (!ids.includes(meetingId)) return 'ignored';
      return this.recovery.agentLeft({
        room,
        roomSid: event.room?.sid || null,
        meetingId,
        participantSid: event.participant.sid,
        disconnectReason: event.participant.disconnectReason,
      });
    }
    return 'ignored';
  }
}
