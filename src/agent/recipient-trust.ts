/**
 * Whose `email` attribute may receive the minutes (docs/interfaces.md, "Participant attributes").
 *
 * A participant whose token allows updating its own metadata (which the opt-out needs) can rewrite
 * every attribute, `email` included, so an address is only as good as the way it can be checked:
 *  (a) **locked metadata**: LiveKit's server API (RoomServiceClient.getParticipant) shows
 *      `permission.canUpdateMetadata === false`; then the participant cannot have written the value
 *      it had when the agent first saw it (only the token or the backend could). This holds for the
 *      value present at first sight only: a later change must be signed;
 *  (b) **signature**: `email.sig` = base64url(HMAC-SHA256(RECIPIENT_SIGNING_KEY,
 *      `<identity>\n<email>`)), minted by the conferencing backend. Valid whenever it is checked.
 * Anything else is ignored, whatever its value, and the reason is counted (never the address).
 */
import { PARTICIPANT_ATTR } from '../meeting/livekit-contract.js';
import pRetry from 'p-retry';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RoomServiceClient } from 'livekit-server-sdk';
import { z } from 'zod';
import type { IgnoredAddressReason } from '../meeting/meeting-store.js';


export type AddressVerdict =
  | { trusted: true; email: string; via: 'signature' | 'locked_metadata' }
  | { trusted: false; reason: IgnoredAddressReason };

/** The backend's side: the `email.sig` value for this identity and address (exact strings, no normalisation). */
export function signRecipient(signingKey: string, identity: string, email: string): string {
  return createHmac('sha256', signingKey).update(`${identity}\n${email}`, 'utf8').digest('base64url');
}

/** Constant-time check of `email.sig`. False without a key, or for anything that is not the right MAC. */
export function hasValidSignature(signingKey: string | undefined, identity: string, email: string, signature: string | undefined): boolean {
  if (!signingKey || !signature) return false;
  const expected = Buffer.from(signRecipient(signingKey, identity, email), 'base64url');
  const given = Buffer.from(signature, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether a participant may rewrite its own attributes, as LiveKit's server says. Throws when it cannot tell. */
export type MetadataPermission = (identity: string) => Promise<boolean>;

/** The permission read from the server API for one room (three attempts, 200 ms then 400 ms apart: the participant may be joining). */
export function serverMetadataPermission(client: Pick<RoomServiceClient, 'getParticipant'>, room: string): MetadataPermission {
  return async (identity) => {
    const info = await pRetry(() => client.getParticipant(room, identity), { retries: 2, minTimeout: 200, factor: 2 });
    // No permission block means the token's defaults, where canUpdateOwnMetadata is false.
    return info.permission?.canUpdateMetadata === true;
  };
}

const EmailSchema = z.email();

/**
 * Judges the `email` attribute of a participant. `firstSight`: the agent sees this participant
 * (joined, or present when it arrived) for the first time; false for an attribute change.
 * Returns null when there is no `email` attribute at all.
 */
export async function judgeAddress(input: {
  identity: string;
  attributes: Readonly<Record<string, string>>;
  firstSight: boolean;
  signingKey: string | undefined;
  mayRewrite: MetadataPermission;
}): Promise<AddressVerdict | null> {
  const raw = input.attributes[PARTICIPANT_ATTR.email];
  if (raw === undefined || raw.trim() === '') return null;
  if (!EmailSchema.safeParse(raw).success) return { trusted: false, reason: 'malformed' };
  const signature = input.attributes[PARTICIPANT_ATTR.emailSignature];
  if (hasValidSignature(input.signingKey, input.identity, raw, signature)) return { trusted: true, email: raw, via: 'signature' };
  const refused: IgnoredAddressReason = signature ? 'bad_signature' : 'unsigned';
  if (!input.firstSight) return { trusted: false, reason: refused };
  let mayRewrite: boolean;
  try {
    mayRewrite = await input.mayRewrite(input.identity);
  } catch {
    return { trusted: false, reason: signature ? 'bad_signature' : 'unverifiable' };
  }
  return mayRewrite ? { trusted: false, reason: refused } : { trusted: true, email: raw, via: 'locked_metadata' };
}
