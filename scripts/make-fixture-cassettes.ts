/**
 * Builds the transcription cassette of a fixture meeting from its ground truth.
 *
 *   tsx scripts/make-fixture-cassettes.ts [fixtures/meetings/comite-projet] [--out fixtures/cassettes/comite-projet.json]
 *       [--silence-hallucination "Sous-titres réalisés par la communauté d'Amara.org"]
 *
 * Entries: one per provider (OpenAI verbose_json, Mistral) for every speaking participant's whole
 * track, and one per provider for mixed.opus. See src/replay/README.md.
 */
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveCassette } from '../src/replay/cassette.js';
import { buildGroundTruthCassette } from '../src/replay/ground-truth.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string' }, 'silence-hallucination': { type: 'string' } },
});
const dir = positionals[0] ?? 'fixtures/meetings/comite-projet';
const out = values.out ?? join('fixtures/cassettes', `${basename(dir)}.json`);

const t0 = performance.now();
const cassette = await buildGroundTruthCassette(dir, {
  ...(values['silence-hallucination'] ? { silenceHallucination: values['silence-hallucination'] } : {}),
});
await saveCassette(out, cassette);
console.log(`${out}: ${cassette.transcriptions.length} transcription entries, ${cassette.onSilence.length} silence entries (${Math.round(performance.now() - t0)} ms)`);
