/**
 * Agent benchmark, deployed shape: `npm run bench -- agent-worker` (also run by `npm run bench -- agent`).
 *
 * The compiled `meeting-agent worker` (dist/src/cli.js, as in the Docker image) with
 * WORKER_EXECUTOR=in-process (BENCH_WORKER_EXECUTOR=process: a job process per room) registers with a real LiveKit and receives K rooms by dispatch, like in
 * production; each room plays the fixture meeting (4 microphones, 3 speaking, 2 min 28 s) through
 * publisher bots, with a listener bot receiving the captions. Speech-to-text is the replay server at
 * 300-800 ms. Everything is measured from outside the worker, through /proc:
 *   - memory: the registered worker at rest (VAD loaded), its peak resident memory with K rooms
 *     (with its children alive at the sample: ffmpeg, job processes), and the memory per added room;
 *   - CPU seconds per speaker-hour (one microphone for one hour): the worker's own ticks plus its
 *     reaped children's (ffmpeg encodes), while the rooms play;
 *   - keeping up: every utterance cut and handed on in its room (captioned, or deferred when the
 *     replay double rejects an upload), and the worker never reported a VAD more than 1 s behind
 *     (its "worker full … vad_backlog" log line);
 *   - caption delay: each utterance's ground-truth end → its caption received by the listener
 *     (speech-to-text included), p50 / p95.
 * K from BENCH_AGENT_ROOMS (default "1,2,4"), a fresh worker per K; stops after the first K that
 * does not keep up. BENCH_PLAY_SECONDS plays only the start of the meeting.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ParticipantKind } from '@livekit/rtc-node';
import { AgentDispatchClient } from 'livekit-server-sdk';
import { joinAsListener, joinAsSpeaker, type ListenerBot, type SpeakerBot } from '../src/local/meeting-bot.js';
import { startLocalServices } from '../src/local/services.js';
import { MeetingStore } from '../src/meeting/meeting-store.js';
import { createRedisConnection } from '../src/meeting/redis-connection.js';
import { segmentId } from '../src/meeting/segment.js';
import { requestStop } from '../src/meeting/stop-signal.js';
import { openQueue, QUEUE } from '../src/pipelines/queues/queues.js';
import { startReplayServer } from '../src/replay/server.js';
import { createS3Client } from '../src/storage/s3-client.js';
import { FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript } from '../test/agent/harness.js';
import { childrenOf, percentile, procStatFields, rssOf } from './proc-stat.js';

const STT_LATENCY: [number, number] = [300, 800];
const CLOCK_TICKS = 100;
const roomCounts = (process.env.BENCH_AGENT_ROOMS ?? '1,2,4').split(',').map(Number);
/** BENCH_WORKER_EXECUTOR=process measures the job-process-per-room shape the same way. */
const executor = process.env.BENCH_WORKER_EXECUTOR === 'process' ? 'process' : 'in-process';
const script = fixtureScript();
const playMs = Math.min(script.durationMs, Number(process.env.BENCH_PLAY_SECONDS ?? Infinity) * 1000);
const truth = script.utterances.filter((u) => u.endMs <= playMs);
const microphones = script.participants.length;

if (!existsSync('dist/src/cli.js')) throw new Error('dist/src/cli.js is missing: `npm run bench` builds it (or run `npm run build`)');

const services = await startLocalServices({ baseDir: '.services/bench' });
const bucket = `bench-worker-${randomUUID().slice(0, 8)}`;
await createS3Client(services.env).send(new CreateBucketCommand({ Bucket: bucket }));
const stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE], faults: [{ route: 'openai.transcriptions', latencyMs: STT_LATENCY }] });
const auth = { apiKey: services.env.LIVEKIT_API_KEY, apiSecret: services.env.LIVEKIT_API_SECRET };
const dispatcher = new AgentDispatchClient(services.env.LIVEKIT_URL.replace(/^ws/, 'http'), auth.apiKey, auth.apiSecret);
const redis = createRedisConnection(services.env.REDIS_URL);
const store = new MeetingStore(redis, { retentionDays: 1 });
const deferredQueue = openQueue(QUEUE.deferredStt, redis);

/** CPU seconds of a process, of its reaped children (ffmpeg encodes) and of its live children (job processes). */
function cpuSeconds(pid: number): number {
  const f = procStatFields(pid);
  let ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  for (const c of childrenOf(pid)) {
    try {
      const cf = procStatFields(c);
      ticks += Number(cf[11]) + Number(cf[12]) + Number(cf[13]) + Number(cf[14]);
    } catch {
      // gone meanwhile: its ticks are in the parent's reaped children now
    }
  }
  return ticks / CLOCK_TICKS;
}
/** Resident memory of the worker and of its job processes (WORKER_EXECUTOR=process); ffmpeg encodes (short-lived, ~20 MB each) are left out, as in bench/agent.bench.ts. */
const isFfmpeg = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ffmpeg';
  } catch {
    return true;
  }
};
const treeRss = (pid: number) => rssOf(pid) + childrenOf(pid).filter((c) => !isFfmpeg(c)).reduce((a, c) => a + rssOf(c), 0);

interface Run {
  k: number;
  restMb: number;
  peakMb: number;
  cpuSeconds: number;
  markedSeconds: number;
  captions: number;
  deferred: number;
  vadBehind: boolean;
  delays: number[];
  load: number;
}

async function startWorker(agentName: string): Promise<{ pid: number; logs: string[]; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['dist/src/cli.js', 'worker'], {
    env: {
      ...process.env,
      ...services.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HEALTH_PORT: '0',
      AGENT_NAME: agentName,
      S3_BUCKET: bucket,
      STT_PROVIDER: 'openai-compatible',
      STT_BASE_URL: `${stt.url}/v1`,
      STT_MODEL: 'whisper-large-v3',
      WORKER_EXECUTOR: executor,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: string[] = [];
  child.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 60_000;
  while (!logs.some((l) => l.includes('registered worker'))) {
    if (Date.now() > deadline) throw new Error(`the worker did not register:\n${logs.slice(-10).join('\n')}`);
    await sleep(200);
  }
  return {
    pid: child.pid!,
    logs,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function run(k: number): Promise<Run> {
  const agentName = `bench-worker-${randomUUID().slice(0, 6)}`;
  const worker = await startWorker(agentName);
  const bots: (SpeakerBot | ListenerBot)[] = [];
  try {
    await sleep(5_000); // module loading settles
    const restMb = treeRss(worker.pid);
    const rooms: { room: string; meetingId: string; listener: ListenerBot; speakers: SpeakerBot[] }[] = [];
    for (let i = 0; i < k; i++) {
      const room = `bench-w${k}-${i}-${randomUUID().slice(0, 6)}`;
      const meetingId = `bench-${randomUUID().slice(0, 8)}`;
      const listener = await joinAsListener({ url: services.env.LIVEKIT_URL, room, identity: 'observer', name: 'Observer', auth });
      bots.push(listener);
      const speakers: SpeakerBot[] = [];
      for (const p of script.participants) {
        const s = await joinAsSpeaker({ url: services.env.LIVEKIT_URL, room, identity: p.identity, name: p.name, auth, file: `${FIXTURE_DIR}/${p.file}`, durationMs: playMs, autoplay: false });
        speakers.push(s);
        bots.push(s);
      }
      await dispatcher.createDispatch(room, agentName, { metadata: JSON.stringify({ meetingId, language: 'fr' }) });
      rooms.push({ room, meetingId, listener, speakers });
    }
    for (const r of rooms) {
      const until = Date.now() + 30_000;
      while ([...r.listener.room.remoteParticipants.values()].find((p) => p.kind === ParticipantKind.AGENT)?.attributes['transcription.state'] !== 'active') {
        if (Date.now() > until) throw new Error(`no agent joined ${r.room}`);
        await sleep(200);
      }
    }
    await sleep(1_500); // subscriptions settle
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(treeRss(worker.pid)), 250);
    const cpu0 = cpuSeconds(worker.pid);
    const t0 = performance.now();
    const speakers = rooms.flatMap((r) => r.speakers);
    for (const s of speakers) void s.play();
    await Promise.all(speakers.map((s) => s.finished));
    await sleep(2_000); // the last utterances' closing silence, speech-to-text and captions
    const cpu = cpuSeconds(worker.pid) - cpu0;
    const markedSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const load = loadavg()[0]!;

    const delays: number[] = [];
    let captions = 0;
    for (const r of rooms) {
      captions += r.listener.captions.length;
      const playStart = Math.min(...r.speakers.map((s) => s.startedAtMs ?? Infinity));
      // The i-th utterance of a speaker has sequence number i, so its caption carries segmentId(speaker, i).
      for (const p of script.participants) {
        for (const [i, u] of truth.filter((x) => x.speaker === p.identity).entries()) {
          const caption = r.listener.captions.find((c) => c.attributes['lk.segment_id'] === segmentId(p.identity, i));
          if (caption) delays.push(caption.receivedAtMs - (playStart + u.endMs));
        }
      }
    }
    for (const r of rooms) await requestStop(redis, r.meetingId);
    for (const r of rooms) {
      const until = Date.now() + 60_000;
      while (!(await store.get(r.meetingId))?.endedAt && Date.now() < until) await sleep(250);
    }
    const ids = new Set(rooms.map((r) => r.meetingId));
    const deferredJobs = await deferredQueue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
    const deferred = deferredJobs.filter((j) => ids.has((j?.data as { meetingId?: string } | undefined)?.meetingId ?? '')).length;
    return {
      k,
      restMb,
      peakMb: Math.max(...samples),
      cpuSeconds: cpu,
      markedSeconds,
      captions,
      deferred,
      vadBehind: worker.logs.some((l) => l.includes('"reason":"vad_backlog"')),
      delays,
      load,
    };
  } finally {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
    await worker.stop();
  }
}

/**
 * Kept up: the VAD was never more than 1 s behind and every utterance was cut and handed on (a
 * caption, or deferred: the replay double cannot match some uploads made under load, and the
 * product then spools them; the deferred column shows how many).
 */
const keptUp = (r: Run) => !r.vadBehind && r.captions + r.deferred >= r.k * truth.length;

const runs: Run[] = [];
try {
  for (const k of roomCounts) {
    console.log(`running the worker with ${k} room(s) of ${microphones} microphones for ${(playMs / 1000).toFixed(0)} s…`);
    const r = await run(k);
    runs.push(r);
    console.log(JSON.stringify({ ...r, delays: undefined, keptUp: keptUp(r) }));
    if (!keptUp(r)) break;
  }
  const first = runs[0];
  console.log(
    `\nAgent, deployed shape: compiled \`meeting-agent worker\` (WORKER_EXECUTOR=${executor}) receiving K rooms by dispatch; fixture meeting (${microphones} microphones, ${(playMs / 1000).toFixed(0)} s), speech-to-text replayed at ${STT_LATENCY[0]}-${STT_LATENCY[1]} ms`,
  );
  console.log('| rooms in the worker | worker at rest | peak RSS | memory per added room | CPU per speaker-hour | CPU (% of one core) | captions | deferred | VAD > 1 s behind | utterance end → caption received p50 / p95 | load (1 min) | keeps up |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    const perRoom = first && r.k > first.k ? `${((r.peakMb - first.peakMb) / (r.k - first.k)).toFixed(1)} MB` : `${(r.peakMb - r.restMb).toFixed(1)} MB (peak − rest)`;
    console.log(
      `| ${r.k} | ${r.restMb.toFixed(0)} MB | ${r.peakMb.toFixed(0)} MB | ${perRoom} | ${(r.cpuSeconds / ((r.k * microphones * playMs) / 3_600_000)).toFixed(1)} s | ${((r.cpuSeconds / r.markedSeconds) * 100).toFixed(0)} % | ${r.captions}/${r.k * truth.length} | ${r.deferred} | ${r.vadBehind ? 'yes' : 'no'} | ${percentile(r.delays, 50).toFixed(0)} / ${percentile(r.delays, 95).toFixed(0)} ms | ${r.load.toFixed(1)} | ${keptUp(r) ? 'yes' : 'no'} |`,
    );
  }
} finally {
  await deferredQueue.close();
  redis.disconnect();
  await stt.close();
  await services.stop();
}
// rtc-node's native handles keep the event loop alive after the rooms are left.
process.exit(0);
