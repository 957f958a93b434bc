/**
 * The JSON the conferencing backend or the API gives to `createDispatch` (see docs/interfaces.md):
 * one schema, checked by the API before it dispatches and by the agent when it is dispatched.
 * Every field is optional (a requester may also be null); a missing meeting id gets a fresh one. Bad metadata is an error the
 * agent reports and leaves on, not something it guesses around.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

const MEETING_ID = /^[A-Za-z0-9_-]{1,100}$/;

export const DispatchMetadataSchema = z
  .object({
    meetingId: z.string().regex(MEETING_ID, 'letters, digits, "-" and "_" only, at most 100').optional(),
    language: z.string().regex(/^[a-z]{2}$/, 'a two-letter ISO 639-1 code such as fr').optional(),
    requester: z
      .object({
        identity: z.string().min(1).max(256).nullable().optional(),
        email: z.email().nullable().optional(),
      })
      .nullable()
      .optional(),
    glossary: z.array(z.string().min(1).max(100)).max(200).optional(),
  })
  .loose();
export type DispatchMetadata = z.infer<typeof DispatchMetadataSchema>;

export class DispatchMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DispatchMetadataError';
  }
}

/** Parses the dispatch metadata ("" or absent means "all defaults"). */
export function parseDispatchMetadata(raw: string | undefined): DispatchMetadata {
  if (!raw || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new DispatchMetadataError('dispatch metadata is not JSON');
  }
  const parsed = DispatchMetadataSchema.safeParse(json);
  if (!parsed.success) {
    // Field paths and messages only: the values may be personal data.
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new DispatchMetadataError(`invalid dispatch metadata: ${why}`);
  }
  return parsed.data;
}

/**
 * The meeting id of a dispatch: the given one, else one derived from the dispatch id, so that a job
 * LiveKit hands to another worker after a crash continues the same meeting.
 */
export function meetingIdFor(metadata: DispatchMetadata, dispatchId: string | undefined): string {
  if (metadata.meetingId) return metadata.meetingId;
  const fromDispatch = dispatchId?.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 90);
  return fromDispatch ? `m-${fromDispatch}` : `m-${randomUUID()}`;
}

/** The speech-to-text prompt from the glossary: the terms a recogniser should spell right. */
export function promptFromGlossary(glossary: readonly string[] | undefined): string | undefined {
  const terms = (glossary ?? []).map((t) => t.trim()).filter(Boolean);
  if (terms.length === 0) return undefined;
  // Whisper reads at most 224 prompt tokens; keep well under.
  let prompt = '';
  for (const t of terms) {
    const next = prompt ? `${prompt}, ${t}` : t;
    if (next.length > 600) break;
    prompt = next;
  }
  return `${prompt}.`;
}
