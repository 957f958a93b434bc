/** transcript.json: the transcript as data, validated against the published schema before it leaves. */
import { z } from 'zod';
import { TranscriptSchema, type Transcript } from './transcript.js';

export function renderTranscriptJson(transcript: Transcript): string {
  return `${JSON.stringify(TranscriptSchema.parse(transcript), null, 2)}\n`;
}

/** Reads a transcript.json back (e.g. an artefact from S3), with a clear error when it is not one. */
export function parseTranscriptJson(text: string): Transcript {
  return TranscriptSchema.parse(JSON.parse(text));
}

/** The JSON Schema committed at schemas/transcript.schema.json (see scripts/gen-schemas.ts). */
export function transcriptJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(TranscriptSchema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
}
