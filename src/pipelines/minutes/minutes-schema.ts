/**
 * The minutes, in two shapes:
 * - MinutesDraftSchema: what the model must answer (given to `chat.parse` as JSON Schema). Every
 *   field is required; absent values are `null` (`.nullable()`, never `.optional()`: the SDK makes
 *   optional fields required-nullable and its own parse then fails silently on `null`).
 * - MinutesSchema: what is stored and mailed, after validation against the transcript: citations
 *   resolved to turns with their times (unknown ones dropped), owners resolved to participants.
 * Recipients are in neither: they never come from the model.
 */
import { z } from 'zod';

export const MINUTES_SCHEMA_VERSION = '1.0';

const turnRefs = z.array(z.string()).describe('Ids of the transcript turns this comes from, e.g. ["T012", "T013"]');

export const MinutesDraftSchema = z.object({
  title: z.string().describe('Short title of the meeting'),
  summary: z.string().describe('Summary of the meeting, a few sentences'),
  topics: z.array(
    z.object({
      title: z.string(),
      summary: z.string(),
      startTurn: z.string().nullable().describe('Id of the turn where the topic starts'),
    }),
  ),
  decisions: z.array(z.object({ text: z.string(), turns: turnRefs })),
  actionItems: z.array(
    z.object({
      task: z.string(),
      owner: z.string().nullable().describe('Name of the participant who takes the task, exactly as in the participant list, or null'),
      dueDate: z.string().nullable().describe('Due date as it was said in the meeting, or null when none was said'),
      turns: turnRefs,
    }),
  ),
  openQuestions: z.array(z.object({ text: z.string(), turns: turnRefs })),
});
export type MinutesDraft = z.infer<typeof MinutesDraftSchema>;

export const CitationSchema = z.object({
  turn: z.string().regex(/^T\d{3,}$/),
  startMs: z.number().nonnegative(),
  speaker: z.string(),
});
export type Citation = z.infer<typeof CitationSchema>;

const PersonSchema = z.object({ identity: z.string(), name: z.string() });

export const TokenUsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  /** What the chars/token estimate predicted for the prompts sent, to calibrate it. */
  estimatedPromptTokens: z.number().int().nonnegative(),
});
export type TokenUsage = z.infer<typeof TokenUsageSchema>;

export const MinutesSchema = z
  .object({
    schemaVersion: z.literal(MINUTES_SCHEMA_VERSION),
    meetingId: z.string(),
    language: z.string(),
    /** `minutes` from the model; `no-speech` when there was nothing (or too little) to summarise. */
    kind: z.enum(['minutes', 'no-speech']),
    title: z.string(),
    summary: z.string(),
    /** From the meeting's participant list (never from the model). */
    participants: z.array(PersonSchema.extend({ spoke: z.boolean() })),
    topics: z.array(z.object({ title: z.string(), summary: z.string(), startMs: z.number().nullable(), turn: z.string().nullable() })),
    decisions: z.array(z.object({ text: z.string(), citations: z.array(CitationSchema) })),
    actionItems: z.array(
      z.object({
        task: z.string(),
        owner: PersonSchema.nullable(),
        dueDate: z.string().nullable(),
        citations: z.array(CitationSchema),
      }),
    ),
    openQuestions: z.array(z.object({ text: z.string(), citations: z.array(CitationSchema) })),
    generation: z.object({
      generatedAt: z.string().datetime(),
      model: z.string().nullable(),
      promptVersion: z.string(),
      /** Model calls made, repairs included. */
      calls: z.number().int().nonnegative(),
      /** Longest chain of calls that had to wait for one another (1 direct, 2 split-and-merge). */
      sequentialDepth: z.number().int().nonnegative(),
      parts: z.number().int().nonnegative(),
      repaired: z.boolean(),
      usage: TokenUsageSchema,
      /** Citations the model gave that pointed to no turn and were dropped. */
      droppedCitations: z.number().int().nonnegative(),
      /** Owners the model named who are not participants, set to null. */
      droppedOwners: z.number().int().nonnegative(),
      /** Owners more than one person could be (two participants, or one and someone else the transcript names), set to null. */
      ambiguousOwners: z.number().int().nonnegative(),
      /** Decisions, actions and questions not published because none of their citations named a real turn. */
      droppedItems: z.number().int().nonnegative(),
      /** Links, email addresses and phone numbers removed because the turns cited do not say them. */
      removedContactDetails: z.number().int().nonnegative(),
      transcriptComplete: z.boolean(),
    }),
  })
  .meta({
    $id: 'https://github.com/meeting-agent/meeting-agent/schemas/minutes.schema.json',
    title: 'Meeting minutes',
    description: 'Minutes of one meeting, as stored in minutes.json by the meeting agent.',
  });
export type Minutes = z.infer<typeof MinutesSchema>;
