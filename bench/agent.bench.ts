/**
 * Agent benchmark: `npm run bench -- agent` (or `npx tsx bench/agent.bench.ts`).
 *
 * On a real LiveKit server (with Redis and MinIO) on this machine, K rooms each play the fixture
 * meeting (fixtures/meetings/comite-projet: 4 microphones, 3 people speaking and one open, quiet
 * microphone, 2 min 28 s) through publisher bots, with a listener bot per room receiving the
 * captions. The agent side (bench/agent-rooms.ts) runs the worker's per-room code for the K rooms
 * in one process of its own; speech-to-text is the replay server at a realistic 300-800 ms.
 *
 * Reported for each K (BENCH_AGENT_ROOMS, default "1,2,4"; stops after the first K that does not
 * keep up):
 *   - CPU seconds per speaker-hour (one microphone track for one hour), agent process + ffmpeg;
 *   - memory: a VAD-loaded process at rest, and the marginal resident memory per room;
 *   - keeping up: the VAD's largest backlog, captions and deferred utterances;
 *   - caption delay beyond speech-to-text: cut → caption sent (agent), and detected speech end →
 *     caption received by a listener (user), each minus that utterance's speech-to-text time;
 *   - what a participant reading the captions waits: every sentence's ground-truth end → the
 *     caption holding it received by the listener, p50 / p95, with the speech-to-text time of those
 *     captions apart and the delay beyond it (issue #15: p95 ≤ 1.5 s beyond speech-to-text);
 *   - with INTERIM_CAPTIONS=true, also every sentence's end → the first caption showing its words
 *     (an interim whose audio went past the end, or the final), and the calls: finals + interims.
 * Then one room plays a 95 s monologue with 250 ms pauses between sentences (test/agent/monologue.ts,
 * generated with espeak-ng and sox) for the same sentence → caption figures (BENCH_MONOLOGUE=0
 * skips it).
 *
 * BENCH_VAD=none runs the rooms without any VAD (so without captions): what receiving the audio
 * from LiveKit costs by itself. BENCH_VAD=nogate shows every window to the model (no silence gate). BENCH_PLAY_SECONDS=49 plays only the first 49 s (7 utterances).
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { joinAsListener, joinAsSpeaker, type ListenerBot, type SpeakerBot } from '../src/local/meeting-bot.js';
import { startLocalServices } from '../src/local/services.js';
import { startReplayServer } from '../src/replay/server.js';
import { createS3Client } from '../src/storage/s3-client.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript } from '../test/agent/harness.js';
import { makeMonologue } from '../test/agent/monologue.js';
import type { AgentRoomsReport, FromAgent, ToAgent } from './agent-rooms.js';
import { childrenOf, percentile, rssOf } from './proc-stat.js';

const STT_LATENCY: [number, number] = [300, 800];
/** A room keeps up when the VAD is never more than this behind real time. */
const KEEP_UP_BACKLOG_MS = 1_000;
const roomCounts = (process.env.BENCH_AGENT_ROOMS ?? '1,2,4').split(',').map(Number);
const receiveOnly = process.env.BENCH_VAD === 'none';
const vadLabel = receiveOnly ? 'RECEIVE ONLY (BENCH_VAD=none: no VAD, no captions)' : process.env.BENCH_VAD === 'nogate' ? 'VAD without silence gate (BENCH_VAD=nogate)' : 'VAD with silence gate';

const script = fixtureScript();
/** BENCH_PLAY_SECONDS plays only the start of the meeting (quicker comparisons). */
const playMs = Math.min(script.durationMs, Number(process.env.BENCH_PLAY_SECONDS ?? Infinity) * 1000);
const speakingParticipants = script.participants.filter((p) => !p.silent).length;

/** What the rooms of a run play: one file per participant, and where each sentence ends (ms into the files). */
interface Scenario {
  label: string;
  participants: { identity: string; name: string; file: string }[];
  playMs: number;
  sentences: { speaker: string; endMs: number }[];
}

const fixtureScenario: Scenario = {
  label: `fixture meeting (${script.participants.length} microphones, ${script.participants.filter((p) => !p.silent).length} speaking, ${(playMs / 1000).toFixed(0)} s)`,
  participants: script.participants.map((p) => ({ identity: p.identity, name: p.name, file: `${FIXTURE_DIR}/${p.file}` })),
  playMs,
  sentences: script.utterances.filter((u) => u.endMs <= playMs).flatMap((u) => u.sentences.map((x) => ({ speaker: u.speaker, endMs: x.endMs }))),
};
const monologueDir = process.env.BENCH_MONOLOGUE === '0' ? null : mkdtempSync(join(tmpdir(), 'bench-monologue-'));
const monologue = monologueDir ? await makeMonologue(monologueDir) : null;
const monologueScenario: Scenario | null = monologue && {
  label: `monologue (1 microphone, ${(monologue.durationMs / 1000).toFixed(0)} s, ${monologue.sentences.length} sentences 250 ms apart)`,
  participants: [{ identity: 'orateur', name: 'Odile Renard', file: monologue.file }],
  playMs: monologue.durationMs,
  sentences: monologue.sentences.map((x) => ({ speaker: 'orateur', endMs: x.endMs })),
};

const services = await startLocalServices({ baseDir: '.services/bench' });
const bucket = `bench-agent-${randomUUID().slice(0, 8)}`;
await createS3Client(services.env).send(new CreateBucketCommand({ Bucket: bucket }));
let unmatched = 0;
const stt = await startReplayServer({
  provider: 'openai',
  cassettes: [FIXTURE_CASSETTE, ...(monologue ? [monologue.cassette] : [])],
  faults: [{ route: 'openai.transcriptions', latencyMs: STT_LATENCY }],
  onUnmatched: () => unmatched++,
});
const auth = { apiKey: services.env.LIVEKIT_API_KEY, apiSecret: services.env.LIVEKIT_API_SECRET };

interface RunResult {
  report: AgentRoomsReport;
  captions: number;
  unmatched: number;
  userDelays: number[];
  /**
   * Per sentence captioned: ground-truth end → final caption received, that caption's speech-to-text
   * time, and ground-truth end → first caption showing the sentence's words (interim or final).
   */
  sentenceDelays: { totalMs: number; sttMs: number; firstMs: number }[];
  sentences: number;
  load: number;
}

/**
 * Every sentence's wait: from its ground-truth end (the speakers' play start + endMs) to the final
 * caption of its speaker whose utterance holds that end (300 ms: the VAD's tolerance). A sentence
 * whose utterance got no caption (deferred) counts as not captioned. With INTERIM_CAPTIONS=true, also
 * to the first caption showing its words: the final, or an earlier interim of the same segment whose
 * audio went past the sentence's end (by at least -150 ms: frame timing on the meeting clock).
 */
function sentenceDelaysOf(sc: Scenario, listener: ListenerBot, playStartMs: number, report: AgentRoomsReport, meetingId: string): RunResult['sentenceDelays'] {
  const ofMeeting = (x: { meetingId: string }) => x.meetingId === meetingId;
  const segment = (c: ListenerBot['captions'][number]) => c.attributes['lk.segment_id'];
  const finals = listener.captions
    .filter((c) => c.attributes['lk.transcription_final'] === 'true')
    .map((c) => ({ c, t: report.timings.find((x) => ofMeeting(x) && x.segmentId === segment(c)) }))
    .filter((x): x is { c: typeof x.c; t: NonNullable<typeof x.t> } => x.t !== undefined);
  const interims = listener.captions.filter((c) => c.attributes['lk.transcription_final'] === 'false');
  const out: RunResult['sentenceDelays'] = [];
  for (const s of sc.sentences) {
    const end = playStartMs + s.endMs;
    const holder = finals.find((x) => x.c.senderIdentity === s.speaker && x.t.speechStartWallMs < end && x.t.speechEndWallMs >= end - 300);
    if (!holder) continue;
    const id = holder.t.segmentId;
    // Interims are published in order, each with the text so far: the first one past the end shows it.
    const shownBy = report.interims.filter((x) => ofMeeting(x) && x.segmentId === id && x.audioEndWallMs >= end - 150).length;
    const firstInterim = shownBy > 0 ? interims.filter((c) => segment(c) === id && c.senderIdentity === s.speaker).at(-shownBy) : undefined;
    const first = Math.min(holder.c.receivedAtMs, firstInterim?.receivedAtMs ?? Infinity);
    out.push({ totalMs: holder.c.receivedAtMs - end, sttMs: holder.t.sttMs, firstMs: first - end });
  }
  return out;
}

async function run(k: number, sc: Scenario): Promise<RunResult> {
  const rooms = Array.from({ length: k }, (_, i) => ({ room: `bench-${k}-${i}-${randomUUID().slice(0, 6)}`, meetingId: `bench-${randomUUID().slice(0, 8)}` }));
  const agent = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', 'bench/agent-rooms.ts'], {
    env: {
      ...process.env,
      ...services.env,
      NODE_ENV: 'production',
      S3_BUCKET: bucket,
      STT_PROVIDER: 'openai-compatible',
      STT_BASE_URL: `${stt.url}/v1`,
      STT_MODEL: 'whisper-large-v3',
      // One job process per room in production: the same speech-to-text concurrency per room.
      STT_CONCURRENCY: String(4 * k),
      BENCH_ROOMS: JSON.stringify({ rooms }),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((r) => agent.once('exit', r));
  const next = (type: FromAgent['type']) =>
    new Promise<FromAgent>((resolve, reject) => {
      agent.on('message', (m: FromAgent) => m.type === type && resolve(m));
      void exited.then((code) => reject(new Error(`agent process exited (${code}) before ${type}`)));
    });
  const tell = (m: ToAgent) => agent.send(m);

  const bots: (SpeakerBot | ListenerBot)[] = [];
  const listeners: ListenerBot[] = [];
  const speakers: SpeakerBot[] = [];
  try {
    const joined = next('joined');
    tell({ type: 'join' });
    await joined;
    for (const r of rooms) {
      const listener = await joinAsListener({ url: services.env.LIVEKIT_URL, room: r.room, identity: 'observer', name: 'Observer', auth });
      listeners.push(listener);
      bots.push(listener);
      for (const p of sc.participants) {
        const s = await joinAsSpeaker({ url: services.env.LIVEKIT_URL, room: r.room, identity: p.identity, name: p.name, auth, file: p.file, durationMs: sc.playMs, autoplay: false });
        speakers.push(s);
        bots.push(s);
      }
    }
    await sleep(1_500); // subscriptions settle
    const unmatchedBefore = unmatched;
    tell({ type: 'mark' });
    for (const s of speakers) void s.play();
    await Promise.all(speakers.map((s) => s.finished));
    await sleep(2_000); // the last utterances' closing silence, speech-to-text and captions
    const load = loadavg()[0]!;
    const reported = next('report');
    tell({ type: 'end' });
    const { report } = (await reported) as Extract<FromAgent, { type: 'report' }>;

    const userDelays: number[] = [];
    const sentenceDelays: RunResult['sentenceDelays'] = [];
    for (const [i, listener] of listeners.entries()) {
      for (const c of listener.captions.filter((x) => x.attributes['lk.transcription_final'] === 'true')) {
        const t = report.timings.find((x) => x.meetingId === rooms[i]!.meetingId && x.segmentId === c.attributes['lk.segment_id']);
        if (t) userDelays.push(c.receivedAtMs - t.speechEndWallMs - t.sttMs);
      }
      const roomSpeakers = speakers.slice(i * sc.participants.length, (i + 1) * sc.participants.length);
      sentenceDelays.push(...sentenceDelaysOf(sc, listener, Math.min(...roomSpeakers.map((s) => s.startedAtMs ?? Infinity)), report, rooms[i]!.meetingId));
    }
    return {
      report,
      captions: listeners.reduce((a, l) => a + l.captions.filter((c) => c.attributes['lk.transcription_final'] === 'true').length, 0),
      unmatched: unmatched - unmatchedBefore,
      userDelays,
      sentenceDelays,
      sentences: k * sc.sentences.length,
      load,
    };
  } finally {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
}

/**
 * The production shape: `meeting-agent worker` (compiled, as in the Docker image) with its warm
 * idle job process. @livekit/agents 1.9 runs one process per job, so this process is what each
 * room costs in memory before any audio arrives.
 */
async function measureWorkerProcesses(): Promise<{ workerMb: number; idleJobMb: number; compiled: boolean }> {
  const compiled = existsSync('dist/src/cli.js');
  const args = compiled ? ['dist/src/cli.js', 'worker'] : ['--import', 'tsx', 'src/cli.ts', 'worker'];
  const worker = spawn(process.execPath, args, {
    env: { ...process.env, ...services.env, NODE_ENV: 'production', LOG_LEVEL: 'info', HEALTH_PORT: '0', S3_BUCKET: bucket, STT_BASE_URL: `${stt.url}/v1`, AGENT_NAME: 'bench-memory' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const deadline = Date.now() + 90_000;
    let out = '';
    worker.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('registered worker') || childrenOf(worker.pid!).length === 0) {
      if (Date.now() > deadline) throw new Error('the worker did not register with an idle job process');
      await sleep(500);
    }
    await sleep(15_000); // the idle process loads the VAD and the pipeline modules
    return { workerMb: rssOf(worker.pid!), idleJobMb: Math.max(...childrenOf(worker.pid!).map(rssOf)), compiled };
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  }
}

const rows: string[] = [];
const sentenceRows: string[] = [];
const peaks: { k: number; peakRssMb: number }[] = [];
let restRss = NaN;

/** "sentence end → caption received" row: total, speech-to-text apart, and beyond it (p50 / p95). */
function sentenceRow(label: string, r: RunResult): string {
  const d = r.sentenceDelays;
  const pair = (xs: number[]) => `${percentile(xs, 50).toFixed(0)} / ${percentile(xs, 95).toFixed(0)} ms`;
  const i = r.report.interimStats;
  const interim = i
    ? `${pair(d.map((x) => x.firstMs))} | ${r.report.finalCalls} + ${i.calls} calls (${i.seconds.toFixed(1)} s sent; ${i.shown} shown, dropped ${i.droppedInFlight} in flight / ${i.droppedBusy} busy, ${i.stale} stale, ${i.failed} failed)`
    : 'n/a (INTERIM_CAPTIONS=false) | ' + `${r.report.finalCalls} calls`;
  return `| ${label} | ${d.length}/${r.sentences} | ${pair(d.map((x) => x.totalMs))} | ${pair(d.map((x) => x.sttMs))} | ${pair(d.map((x) => x.totalMs - x.sttMs))} | ${interim} | ${r.unmatched} | ${r.load.toFixed(1)} |`;
}

try {
  const m = await measureWorkerProcesses();
  console.log(
    `meeting-agent worker (${m.compiled ? 'compiled, as in the Docker image' : 'under tsx: npm run build first for the Docker figure'}): worker ${m.workerMb.toFixed(0)} MB, idle job process (one per room) ${m.idleJobMb.toFixed(0)} MB`,
  );
  for (const k of roomCounts) {
    console.log(`running ${k} room(s) of ${script.participants.length} microphones for ${(playMs / 1000).toFixed(0)} s…`);
    const r = await run(k, fixtureScenario);
    const rep = r.report;
    restRss = rep.restRssMb;
    peaks.push({ k, peakRssMb: rep.peakRssMb });
    const speakerHours = (k * script.participants.length * playMs) / 3_600_000;
    const cpu = rep.cpuSeconds + rep.childCpuSeconds;
    const overheads = rep.timings.map((t) => t.overheadMs);
    const keptUp = rep.maxVadBacklogMs <= KEEP_UP_BACKLOG_MS && rep.deferred === 0 && r.sentenceDelays.length >= r.sentences * 0.95;
    rows.push(
      `| ${k} | ${(cpu / speakerHours).toFixed(1)} s | ${((cpu / rep.markedSeconds) * 100).toFixed(0)} % | ${((rep.peakRssMb - rep.restRssMb) / k).toFixed(1)} MB | ${rep.peakRssMb.toFixed(0)} MB | ${receiveOnly ? 'n/a' : `${rep.maxVadBacklogMs.toFixed(0)} ms`} | ${rep.gatedShare === null ? 'n/a' : `${(rep.gatedShare * 100).toFixed(0)} %`} | ${r.captions} | ${rep.deferred} | ${percentile(overheads, 50).toFixed(0)} / ${percentile(overheads, 95).toFixed(0)} ms | ${percentile(r.userDelays, 50).toFixed(0)} / ${percentile(r.userDelays, 95).toFixed(0)} ms | ${r.unmatched} | ${r.load.toFixed(1)} | ${receiveOnly ? 'n/a' : keptUp ? 'yes' : 'no'} |`,
    );
    console.log(rows.at(-1));
    if (!receiveOnly) sentenceRows.push(sentenceRow(`fixture meeting, ${k} room(s)`, r));
    if (!keptUp && !receiveOnly) break;
  }
  if (monologueScenario && !receiveOnly) {
    console.log(`running 1 room: ${monologueScenario.label}…`);
    sentenceRows.push(sentenceRow('monologue, 1 room', await run(1, monologueScenario)));
  }
  console.log(
    `\nAgent, fixture meeting (${script.participants.length} microphones, ${speakingParticipants} speaking, ${(playMs / 1000).toFixed(0)} s), speech-to-text replayed at ${STT_LATENCY[0]}-${STT_LATENCY[1]} ms; ${vadLabel}; agent process at rest: ${restRss.toFixed(0)} MB`,
  );
  console.log(
    '| rooms in one process | CPU per speaker-hour | CPU (% of one core) | memory per room (marginal) | peak RSS | max VAD backlog | windows gated | captions | deferred | cut → caption − STT p50 / p95 | speech end → caption received − STT p50 / p95 | unmatched STT | load (1 min) | keeps up |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  if (sentenceRows.length > 0) {
    console.log(`\nSentence end (ground truth) → caption received by a listener; target p95 ≤ 1500 ms beyond speech-to-text (issue #15)`);
    console.log(
      `| run | sentences captioned | sentence end → final caption received p50 / p95 | of which speech-to-text p50 / p95 | beyond speech-to-text p50 / p95 | sentence end → first caption showing it (interim or final) p50 / p95 | speech-to-text calls: finals + interims | unmatched STT | load (1 min) |`,
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of sentenceRows) console.log(r);
  }
  const [first, last] = [peaks[0], peaks.at(-1)];
  if (first && last && last.k > first.k) {
    // Each run is a fresh process: the slope between runs is steadier than (peak - rest) / K.
    console.log(`\nmemory per added room (peak RSS, ${first.k} → ${last.k} rooms): ${((last.peakRssMb - first.peakRssMb) / (last.k - first.k)).toFixed(1)} MB`);
  }
} finally {
  if (monologueDir) rmSync(monologueDir, { recursive: true, force: true });
  await stt.close();
  await services.stop();
}
// rtc-node's native handles keep the event loop alive after the rooms are left.
process.exit(0);
