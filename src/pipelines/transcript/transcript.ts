/**
 * The transcript of a meeting as readers get it: segments ordered by meeting time, consecutive
 * utterances of one speaker merged into turns. Turn ids (`T001`, `T002`, ...) are what the minutes
 * cite, so a reader can check every decision against what was said.
 */
import { z } from 'zod';
import { MeetingEventSchema, type MeetingEvent } from '../../meeting/meeting-events.js';
import { ParticipantRefSchema, participantKey, type TranscriptSegment } from '../../meeting/segment.js';

/** Bump the major on a breaking change; schemas/transcript.schema.json is generated from this file. */
export const TRANSCRIPT_SCHEMA_VERSION = '1.0';

/** A pause longer than this starts a new turn even when the same person speaks again. */
export const MAX_GAP_IN_TURN_MS = 30_000;
/** A monologue (or an undiarized recording) is cut into turns of about this length, so citations stay precise. */
export const MAX_TURN_MS = 120_000;

export const TurnSegmentSchema = z.object({
  segmentId: z.string(),
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  text: z.string(),
  confidence: z.number().min(0).max(1).nullable(),
  /** Transcribed after the meeting because speech-to-text was unavailable live. */
  deferred: z.boolean(),
});

export const TurnSchema = z.object({
  /** `T` + at least three digits, in time order; cited by the minutes. */
  id: z.string().regex(/^T\d{3,}$/),
  speaker: ParticipantRefSchema,
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  text: z.string(),
  segments: z.array(TurnSegmentSchema).min(1),
});
export type Turn = z.infer<typeof TurnSchema>;

export const TranscriptParticipantSchema = ParticipantRefSchema.extend({
  /** Number of turns this participant has in the transcript. */
  turns: z.number().int().nonnegative(),
  /** The participant asked not to be transcribed (at some point). */
  optedOut: z.boolean(),
});
export type TranscriptParticipant = z.infer<typeof TranscriptParticipantSchema>;

export const TranscriptSchema = z
  .object({
    schemaVersion: z.literal(TRANSCRIPT_SCHEMA_VERSION),
    meetingId: z.string(),
    /** ISO 639-1 language of the meeting. */
    language: z.string(),
    /** Wall-clock time of the meeting clock's zero, when known. */
    startedAt: z.string().datetime().nullable(),
    endedAt: z.string().datetime().nullable(),
    /** From the first turn's start to the last turn's end (0 without speech). */
    durationMs: z.number().nonnegative(),
    participants: z.array(TranscriptParticipantSchema),
    turns: z.array(TurnSchema),
    events: z.array(MeetingEventSchema),
    completeness: z.object({
      /** False when finalisation gave up waiting for some utterances (see missingSegments). */
      complete: z.boolean(),
      missingSegments: z.number().int().nonnegative(),
      /** Speech the hallucination filter removed, by reason (counts only). */
      filtered: z.record(z.string(), z.number().int().nonnegative()),
    }),
  })
  .meta({
    $id: 'https://github.com/meeting-agent/meeting-agent/schemas/transcript.schema.json',
    title: 'Meeting transcript',
    description: 'Transcript of one meeting, as stored in transcript.json by the meeting agent.',
  });
export type Transcript = z.infer<typeof TranscriptSchema>;

export interface TranscriptInput {
  meetingId: string;
  language: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Everyone known to have attended (speakers absent from this list are added from their segments). */
  participants: readonly { identity: string; name: string; optedOut?: boolean }[];
  segments: readonly TranscriptSegment[];
  events?: readonly MeetingEvent[];
  missingSegments?: number;
}

export function turnId(index: number): string {
  return `T${String(index + 1).padStart(3, '0')}`;
}

function joinText(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return `${a} ${b}`;
}

export function buildTranscript(input: TranscriptInput): Transcript {
  const ordered = [...input.segments].sort(
    (a, b) => a.startMs - b.startMs || a.participant.identity.localeCompare(b.participant.identity) || a.sequence - b.sequence,
  );
  const filtered: Record<string, number> = {};
  const turns: Turn[] = [];
  for (const s of ordered) {
    for (const f of s.filtered) filtered[f.reason] = (filtered[f.reason] ?? 0) + f.count;
    const text = s.text.replace(/\s+/g, ' ').trim();
    if (text === '') continue; // nothing was said (filtered or silence): no line in the transcript
    const piece = { segmentId: s.segmentId, startMs: s.startMs, endMs: s.endMs, text, confidence: s.confidence, deferred: s.deferred };
    const last = turns.at(-1);
    if (last && last.speaker.identity === s.participant.identity && s.startMs - last.endMs <= MAX_GAP_IN_TURN_MS && s.endMs - last.startMs <= MAX_TURN_MS) {
      last.segments.push(piece);
      last.text = joinText(last.text, text);
      last.endMs = Math.max(last.endMs, s.endMs);
    } else {
      turns.push({ id: turnId(turns.length), speaker: { ...s.participant }, startMs: s.startMs, endMs: s.endMs, text, segments: [piece] });
    }
  }

  const byIdentity = new Map<string, TranscriptParticipant>();
  for (const p of input.participants) {
    byIdentity.set(p.identity, { identity: p.identity, name: p.name, turns: 0, optedOut: p.optedOut ?? false });
  }
  for (const t of turns) {
    const p = byIdentity.get(t.speaker.identity) ?? { ...t.speaker, turns: 0, optedOut: false };
    p.turns += 1;
    byIdentity.set(t.speaker.identity, p);
  }
  for (const e of input.events ?? []) {
    if (e.type === 'opted_out' && e.participant) {
      const p = byIdentity.get(e.participant.identity);
      if (p) p.optedOut = true;
    }
  }
  const participants = [...byIdentity.values()].sort((a, b) => b.turns - a.turns || a.name.localeCompare(b.name));
  const first = turns[0];
  const durationMs = first ? Math.max(...turns.map((t) => t.endMs)) - first.startMs : 0;
  const missing = input.missingSegments ?? 0;
  return TranscriptSchema.parse({
    schemaVersion: TRANSCRIPT_SCHEMA_VERSION,
    meetingId: input.meetingId,
    language: input.language,
    startedAt: input.startedAt,
    endedAt: input.endedAt,
    durationMs,
    participants,
    turns,
    events: [...(input.events ?? [])].sort((a, b) => a.atMs - b.atMs),
    completeness: { complete: missing === 0, missingSegments: missing, filtered },
  });
}

/** Counts of words spoken, for the "too little speech" decision. */
export function wordCount(transcript: Transcript): number {
  return transcript.turns.reduce((n, t) => n + t.text.split(/\s+/).filter((w) => /\p{L}/u.test(w)).length, 0);
}

/** `HH:MM:SS` (or `MM:SS` under an hour when `short`). */
export function formatClock(ms: number, short = false): string {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return short && h === 0 ? `${pad(m)}:${pad(s)}` : `${pad(h)}:${pad(m)}:${pad(s)}`;
}

/** Segment counts per participant key (the finalize worker compares them with MeetingInfo.segmentCounts). */
export function segmentsPerParticipantKey(segments: readonly TranscriptSegment[]): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const s of segments) {
    const k = participantKey(s.participant.identity);
    const set = out.get(k) ?? new Set<number>();
    set.add(s.sequence);
    out.set(k, set);
  }
  return out;
}
