/**
 * Writes the published JSON Schemas from their zod definitions:
 *   tsx scripts/gen-schemas.ts          (src/pipelines/transcript/schema.test.ts fails when stale)
 */
import { writeFileSync } from 'node:fs';
import { publishedSchemas } from '../src/pipelines/transcript/published-schemas.js';

for (const [path, schema] of Object.entries(publishedSchemas())) {
  writeFileSync(path, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${path}`);
}
