/**
 * Who is calling. Two kinds of callers:
 * - the conferencing backend, with a service key from API_SERVICE_KEYS (may do everything);
 * - a meeting host, with the LiveKit access token the backend minted for them (checked with the
 *   LiveKit API secret: signature, issuer = our API key, not expired). Its grants decide the rest:
 *   `video.room` names the only room it may act on, `video.roomAdmin` lets it start and stop.
 *
 * 401 means "we do not know who you are" (no, malformed, forged or expired credentials);
 * 403 means "we know, and you may not".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { TokenVerifier, type ClaimGrants } from 'livekit-server-sdk';
import { z } from 'zod';
import { ApiError } from './errors.js';

export type Caller =
  | { kind: 'service'; /** "service-1", "service-2"...: which key, never the key itself */ id: string }
  | { kind: 'host'; identity: string; room: string; roomAdmin: boolean; email: string | null };

const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="meeting-agent"' };

function unauthorized(code: string, message: string): ApiError {
  return new ApiError(401, code, message, undefined, WWW_AUTHENTICATE);
}

const EmailSchema = z.email();

export class Authenticator {
  readonly #serviceKeyDigests: Buffer[];
  readonly #verifier: TokenVerifier;

  /** `serviceKeys`: the raw comma-separated API_SERVICE_KEYS (empty: no service access). */
  constructor(apiKey: string, apiSecret: string, serviceKeys: string | undefined) {
    this.#serviceKeyDigests = (serviceKeys ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0)
      .map(digest);
    this.#verifier = new TokenVerifier(apiKey, apiSecret);
  }

  async authenticate(authorization: string | undefined): Promise<Caller> {
    if (!authorization) throw unauthorized('missing_credentials', 'Send "Authorization: Bearer <LiveKit access token or service key>".');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) throw unauthorized('invalid_credentials', 'The Authorization header must be "Bearer <LiveKit access token or service key>".');
    const credential = match[1];

    const service = this.#serviceKeyIndex(credential);
    if (service >= 0) return { kind: 'service', id: `service-${service + 1}` };

    let claims: ClaimGrants;
    try {
      // 5 s of clock skew at most: a host token is short-lived and must not outlive itself.
      claims = await this.#verifier.verify(credential, 5);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ERR_JWT_EXPIRED') throw unauthorized('token_expired', 'The access token has expired; get a fresh one from the conferencing service.');
      throw unauthorized('invalid_credentials', 'The bearer credential is neither a valid LiveKit access token for this server nor a service key.');
    }
    const room = claims.video?.room;
    const identity = claims.sub;
    if (!room || !identity) {
      throw new ApiError(403, 'token_without_room', 'The access token names no room and identity; only a room token may act on a room.');
    }
    const email = EmailSchema.safeParse(claims.attributes?.email);
    return { kind: 'host', identity, room, roomAdmin: claims.video?.roomAdmin === true, email: email.success ? email.data : null };
  }

  /** Compares against every key in constant time (digests, so lengths leak nothing either). */
  #serviceKeyIndex(credential: string): number {
    const candidate = digest(credential);
    let found = -1;
    this.#serviceKeyDigests.forEach((key, i) => {
      if (timingSafeEqual(key, candidate) && found < 0) found = i;
    });
    return found;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Start and stop: a service key, or a host token with roomAdmin for this very room. */
export function requireRoomAdmin(caller: Caller, room: string): void {
  if (caller.kind === 'service') return;
  if (caller.room !== room) throw new ApiError(403, 'wrong_room', 'The access token is for another room.');
  if (!caller.roomAdmin) throw new ApiError(403, 'not_room_admin', 'Only a host (a token with roomAdmin) may start or stop the transcription.');
}

/**
 * Reading or erasing a meeting (transcript, minutes, presigned links). Allowed:
 * - a service key (the conferencing backend), for every meeting;
 * - the meeting's requester: a roomAdmin token for the meeting's room whose identity is the one
 *   recorded when the transcription was started, at any time (the room may have closed since);
 * - any host (roomAdmin token for the room) while the room instance the meeting ran in is still
 *   open: LiveKit's current sid for the room name equals the meeting's `roomSid`.
 * A token names a room, not an instance, so `openRoomSid` asks LiveKit which instance is open now.
 * Anyone else gets 404 as if the meeting did not exist (ids are no oracle across rooms or instances);
 * a participant without roomAdmin who would otherwise qualify gets 403.
 */
export async function requireMeetingAccess(
  caller: Caller,
  meeting: { meetingId: string; room: string | null; roomSid: string | null; requester: { identity: string | null } | null } | null,
  openRoomSid: (room: string) => Promise<string | null>,
): Promise<void> {
  if (caller.kind === 'service') return;
  const notFound = () => new ApiError(404, 'meeting_not_found', 'No such meeting in your room.');
  if (!meeting?.room || meeting.room !== caller.room) throw notFound();
  const isRequester = meeting.requester?.identity != null && meeting.requester.identity === caller.identity;
  if (!isRequester && (!meeting.roomSid || (await openRoomSid(meeting.room)) !== meeting.roomSid)) throw notFound();
  if (!caller.roomAdmin) throw new ApiError(403, 'not_room_admin', 'Only a host (a token with roomAdmin) may read or erase a meeting.');
}

/**
 * Reading a room's state: a service key, or any valid token for this room (participants may see it
 * is on). The state shown is that of the room's open instance only (Transcriptions.meetingOfRoom).
 */
export function requireRoomMember(caller: Caller, room: string): void {
  if (caller.kind === 'service') return;
  if (caller.room !== room) throw new ApiError(403, 'wrong_room', 'The access token is for another room.');
}
