/**
 * Re-scores transcription uploads a replay server kept (REPLAY_DUMP_DIR, see src/replay/server.ts)
 * against cassettes with today's matcher, to study why live uploads score low and to compare
 * matchers on the same uploads:
 *
 *   REPLAY_DUMP_DIR=/tmp/dump TEST_SENTENCE_CAPTIONS=1 npx vitest run --project realtime test/agent/long-monologue.test.ts
 *   npx tsx scripts/replay-match-study.ts /tmp/dump path/to/cassette.json [more cassettes...]
 *
 * Prints one line per upload (file, duration, what the server answered then, what the matcher
 * answers now: entry, offset, score, method, matched speech) and the score distribution.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeToPcm } from '../src/pipelines/audio/ffmpeg.js';
import { loadCassette, type TranscriptionEntry } from '../src/replay/cassette.js';
import { fingerprintPcm, isSilent, SAMPLE_RATE } from '../src/replay/fingerprint.js';
import { DEFAULT_MATCH_OPTIONS, matchTranscription } from '../src/replay/transcription-match.js';

const [dir, ...cassettes] = process.argv.slice(2);
if (!dir || cassettes.length === 0) {
  console.error('usage: tsx scripts/replay-match-study.ts <dump dir> <cassette.json>...');
  process.exit(2);
}
const entries: TranscriptionEntry[] = [];
for (const c of cassettes) entries.push(...(await loadCassette(c)).transcriptions);

const scores: number[] = [];
let unmatched = 0;
for (const meta of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const base = meta.slice(0, -'.json'.length);
  const audio = readdirSync(dir).find((f) => f.startsWith(`${base}.`) && !f.endsWith('.json'));
  if (!audio) continue;
  const then = JSON.parse(readFileSync(join(dir, meta), 'utf8')) as { outcome: string; score?: number; closest?: { score: number } | null };
  const { samples } = await decodeToPcm(readFileSync(join(dir, audio)), { sampleRate: SAMPLE_RATE, channels: 1 });
  const fingerprint = fingerprintPcm(samples);
  if (isSilent(fingerprint)) continue;
  const provider = entries[0]!.provider;
  const found = matchTranscription(entries, { provider, model: '*', language: null, fingerprint }, DEFAULT_MATCH_OPTIONS);
  const thenScore = then.score ?? then.closest?.score ?? NaN;
  const dur = (samples.length / SAMPLE_RATE).toFixed(2);
  if ('hit' in found) {
    const h = found.hit;
    scores.push(h.alignment.score);
    console.log(
      `${base.padEnd(16)} ${dur.padStart(6)} s  then ${then.outcome} ${thenScore.toFixed(3)}  now ${h.entry.id} @${h.fromSec.toFixed(2)} s ${h.alignment.score.toFixed(3)} ${h.method}` +
        ` (${h.alignment.matchedFrames}/${h.alignment.speechFrames} speech frames agree, ${h.alignment.moves} moved)`,
    );
  } else {
    unmatched++;
    const c = found.miss.closest;
    scores.push(c?.score ?? 0);
    console.log(`${base.padEnd(16)} ${dur.padStart(6)} s  then ${then.outcome} ${thenScore.toFixed(3)}  now UNMATCHED closest ${JSON.stringify(c)}`);
  }
}
const sorted = [...scores].sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]?.toFixed(3);
console.log(`\n${scores.length} uploads with speech, ${unmatched} unmatched; score min ${q(0)} p5 ${q(0.05)} p25 ${q(0.25)} p50 ${q(0.5)} max ${q(1)}`);
