/**
 * Who receives the minutes: participants whose address the agent trusted (stored with the
 * participant: signed by the conferencing backend, or set where the participant could not rewrite
 * it; src/agent/recipient-trust.ts), the requester, and extra recipients the API allowed. Never an address from the transcript or from the model: this function does not even
 * see them. Deduplicated case-insensitively; the first spelling wins.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { MeetingInfo, MeetingParticipant } from '../../meeting/meeting-store.js';

export const RecipientSchema = z.object({
  address: z.email(),
  name: z.string().nullable(),
  /** Why they receive it (for the operator; never shown). */
  role: z.enum(['participant', 'requester', 'extra']),
});
export type Recipient = z.infer<typeof RecipientSchema>;

/** A stable, BullMQ-safe key per address (no ':'), not reversible to the address. */
export function recipientKey(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase()).digest('base64url').slice(0, 16);
}

export function resolveRecipients(
  meeting: Pick<MeetingInfo, 'requester' | 'extraRecipients'>,
  participants: readonly Pick<MeetingParticipant, 'email' | 'name'>[],
): Recipient[] {
  const out = new Map<string, Recipient>();
  const add = (address: string | null | undefined, name: string | null, role: Recipient['role']) => {
    if (!address) return;
    const parsed = RecipientSchema.safeParse({ address: address.trim(), name, role });
    if (!parsed.success) return; // a malformed attribute is not a reason to fail everyone's email
    const k = parsed.data.address.toLowerCase();
    if (!out.has(k)) out.set(k, parsed.data);
  };
  for (const p of participants) add(p.email, p.name || null, 'participant');
  add(meeting.requester?.email, null, 'requester');
  for (const a of meeting.extraRecipients) add(a, null, 'extra');
  return [...out.values()];
}
