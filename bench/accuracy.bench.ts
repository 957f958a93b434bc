/**
 * `npm run bench -- accuracy`: how well the words and their speakers come out of a real recogniser,
 * for live per-speaker capture against transcribing the mixed recording, on the same meeting with
 * the same model.
 *
 * Meeting: fixtures/meetings/budget-review (English, 43.9 s, 9 utterances, three espeak-ng voices, a
 * 2.5 s overlap, a silent and a noisy open microphone). Recogniser: the local Whisper
 * (src/local/whisper-server.ts: faster-whisper-server, tiny.en int8, one CPU thread), beam search at
 * temperature 0 (deterministic).
 * - live: the real agent worker in a real LiveKit room, one bot per participant playing its own track
 *   in real time (test/accuracy/live-meeting.ts);
 * - recording: the recording mode's recognition (`transcribeRecording`, as `meeting-agent transcribe`
 *   runs it) on mixed.opus, the sum of all tracks.
 * Scoring (test/accuracy/score.ts): WER per speaker outside the overlap, words given to the wrong
 * speaker, and the overlap's words counted apart. Prints a Markdown table for BENCHMARKS.md.
 *
 *   npm run bench -- accuracy            # RUNS=2 by default: the live run varies with the VAD's cuts
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { transcribeRecording } from '../src/cli/transcribe.js';
import { startLocalServices } from '../src/local/services.js';
import { startWhisperServer } from '../src/local/whisper-server.js';
import { createSpeechToText } from '../src/pipelines/stt/index.js';
import { loadMeetingScript } from '../src/replay/ground-truth.js';
import { playMeetingLive } from '../test/accuracy/live-meeting.js';
import { scoreTranscript, type AccuracyScore } from '../test/accuracy/score.js';

const MEETING = 'fixtures/meetings/budget-review';
const RUNS = Number(process.env.RUNS ?? 2);
const script = await loadMeetingScript(MEETING);
const services = await startLocalServices({ baseDir: '.services/bench' });
const whisper = await startWhisperServer({ workDir: services.workDir });
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

interface Row {
  mode: string;
  score: AccuracyScore;
  seconds: number;
  load: string;
}
const rows: Row[] = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    let t0 = Date.now();
    const live = await playMeetingLive({
      services: services.env,
      meetingDir: MEETING,
      script,
      sttOrigin: whisper.baseUrl.replace(/\/v1$/, ''),
      sttEnv: { STT_MODEL: whisper.model, STT_LANGUAGE: 'en', STT_TIMEOUT_MS: '60000' },
    });
    rows.push({
      mode: `live per-speaker capture (run ${run})`,
      score: scoreTranscript(script, live.segments.map((s) => ({ speaker: s.participant.identity, startMs: s.scriptStartMs, text: s.text }))),
      seconds: (Date.now() - t0) / 1000,
      load: load(),
    });
    t0 = Date.now();
    const rec = await transcribeRecording(join(MEETING, 'mixed.opus'), {
      meetingId: `bench-accuracy-${run}`,
      language: 'en',
      stt: createSpeechToText({ STT_PROVIDER: 'openai-compatible', STT_BASE_URL: whisper.baseUrl, STT_API_KEY: '', STT_MODEL: whisper.model, STT_CONCURRENCY: 1, STT_TIMEOUT_MS: 120_000 }),
      maxPieceMs: 600_000,
      startedAt: new Date().toISOString(),
    });
    rows.push({
      mode: `mixed recording (run ${run})`,
      score: scoreTranscript(script, rec.segments.map((s) => ({ speaker: s.participant.identity, startMs: s.startMs, text: s.text }))),
      seconds: (Date.now() - t0) / 1000,
      load: load(),
    });
  }
} finally {
  await whisper.stop();
  await services.stop();
}

const speakers = script.participants.filter((p) => !p.silent).map((p) => p.identity);
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '∞');
console.log(`\nmeeting ${script.name}: ${(script.durationMs / 1000).toFixed(1)} s, ${script.utterances.length} utterances; model ${whisper.model}; ${RUNS} run(s)\n`);
console.log(
  `| mode | ${speakers.map((s) => `WER ${s}`).join(' | ')} | WER outside overlap | words misattributed | overlap words: recognised / misheard / lost | words on silent+noisy mics | wall time | load avg (1/5/15 min) after |`,
);
console.log(`|---|${speakers.map(() => '---').join('|')}|---|---|---|---|---|---|`);
for (const r of rows) {
  const s = r.score;
  const per = speakers.map((sp) => {
    const p = s.perSpeaker.find((x) => x.speaker === sp);
    return p ? `${pct(p.wer)} (${p.words} w)` : '–';
  });
  const silent = Object.values(s.wordsOnSilentMicrophones).reduce((a, b) => a + b, 0);
  console.log(
    `| ${r.mode} | ${per.join(' | ')} | ${pct(s.total.wer)} of ${s.total.words} | ${s.total.misattributed + s.overlap.misattributed} of ${s.total.hits + s.total.substitutions + s.overlap.hits + s.overlap.substitutions} | ${s.overlap.hits} / ${s.overlap.substitutions} / ${s.overlap.deletions} of ${s.overlap.words} | ${silent} | ${r.seconds.toFixed(1)} s | ${r.load} |`,
  );
}
console.log('\nraw scores:');
for (const r of rows) console.log(JSON.stringify({ mode: r.mode, ...r.score }));
// LiveKit's native client keeps handles open after its rooms are closed.
process.exit(0);
