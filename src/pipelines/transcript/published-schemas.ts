/** The JSON Schemas committed under schemas/, generated from the zod definitions (scripts/gen-schemas.ts). */
import { z } from 'zod';
import { MinutesSchema } from '../minutes/minutes-schema.js';
import { transcriptJsonSchema } from './render-json.js';

export function minutesJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(MinutesSchema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
}

export function publishedSchemas(): Record<string, Record<string, unknown>> {
  return { 'schemas/transcript.schema.json': transcriptJsonSchema(), 'schemas/minutes.schema.json': minutesJsonSchema() };
}
