/**
 * Speech-to-text answers 503 for 30 s, then 429 with Retry-After, then slowly. Nothing said in
 * the meantime is lost: the agent spools the audio of the utterances it could not transcribe live
 * to S3 and queues deferred jobs; once the service is back, the pipeline's own segment and
 * deferred speech-to-text workers make the same transcript as a meeting without faults.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { joinAsSpeaker, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { decodeToPcm } from '../../src/pipelines/audio/ffmpeg.js';
import { startDeferredSttWorker } from '../../src/pipelines/queues/deferred-stt-worker.js';
import { startSegmentWorker } from '../../src/pipelines/queues/segment-worker.js';
import { closeWorkers, DEFAULT_CRASH_SAFETY } from '../../src/pipelines/queues/worker-runtime.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { segmentId } from '../../src/meeting/segment.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { dispatchAgent, FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, QueueProbe, sleep, startAgentWorker, words, type AgentWorker } from './harness.js';

const script = fixtureScript();
const PLAY_MS = 49_000; // u01–u07
const truth = script.utterances.filter((u) => u.endMs <= PLAY_MS);
const ROUTE = 'openai.transcriptions' as const;

describe('speech-to-text outage during a meeting', () => {
  // A Redis database of its own: the pipeline workers below must see this meeting's jobs only.
  const services = { ...inject('services'), REDIS_URL: `${inject('services').REDIS_URL}/14` };
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const room = `outage-${randomUUID().slice(0, 8)}`;
  const meetingId = `outage-${randomUUID().slice(0, 8)}`;
  let stt: ReplayServer;
  let worker: AgentWorker;
  let probe: QueueProbe;
  const bots: SpeakerBot[] = [];
  const pipeline: Worker[] = [];

  beforeAll(async () => {
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    // A live transcription slower than 4 s is given up and spooled.
    // One segment per utterance (sentence-pause cuts off): this file counts utterances live and spooled;
    // where sentence pauses cut is checked in fixture-meeting / long-monologue.
    worker = await startAgentWorker(services, stt.url, { STT_TIMEOUT_MS: '4000', CAPTION_SENTENCE_PAUSES: 'false' });
    probe = new QueueProbe(services);
    await probe.redis.flushdb();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
    await closeWorkers(pipeline, 5_000);
    await worker?.stop();
    await probe?.close();
    await stt?.close();
  });

  it('spools what it cannot transcribe live, and the transcript after recovery equals the fault-free one', async () => {
    for (const p of script.participants.filter((p) => !p.silent)) {
      bots.push(await joinAsSpeaker({ url: services.LIVEKIT_URL, auth, room, identity: p.identity, name: p.name, file: `${FIXTURE_DIR}/${p.file}`, durationMs: PLAY_MS, autoplay: false }));
    }
    await dispatchAgent(services, room, worker.agentName, { meetingId });
    await probe.waitFor('the meeting to start', () => probe.store.get(meetingId), (m) => m?.status === 'active', 30_000);
    await sleep(1_000);

    stt.setFaults({ route: ROUTE, status: 503, forMs: 30_000 });
    const played = Promise.all(bots.map((b) => b.play()));
    await sleep(30_000);
    stt.setFaults([
      { route: ROUTE, status: 429, retryAfterSec: 1, times: 2 },
      { route: ROUTE, latencyMs: 6_000, times: 1 }, // slower than the live deadline: spooled
      { route: ROUTE, latencyMs: 1_500, forMs: 60_000 }, // slow but in time: live
    ]);
    await played;
    await sleep(2_000);
    await requestStop(probe.redis, meetingId);
    const meeting = await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endedAt != null, 60_000);
    stt.clearFaults();
    expect(stt.stats().faults[ROUTE]).toBeGreaterThan(0);

    const live = await probe.segments(meetingId);
    const deferred = await probe.deferredJobs(meetingId);
    // Utterances during the outage went to the spool; every utterance went one way, exactly once.
    expect(deferred.length).toBeGreaterThanOrEqual(3);
    expect(live.length).toBeGreaterThanOrEqual(2);
    const liveIds = new Set(live.map((s) => s.segmentId));
    for (const d of deferred) expect(liveIds.has(String(d.data.segmentId))).toBe(false);
    expect(live.length + deferred.length).toBe(truth.length);
    // The finaliser is told how many utterances to wait for, spooled ones included.
    expect(Object.values(meeting!.segmentCounts ?? {}).reduce((a, b) => a + b, 0)).toBe(truth.length);

    // The spool: one FLAC per deferred utterance, holding at least its speech.
    const s3 = createS3Client(services);
    for (const d of deferred) {
      const key = String(d.data.audioKey);
      expect(key).toBe(`meetings/${meetingId}/audio-spool/${String(d.data.segmentId)}.flac`);
      const object = await s3.send(new GetObjectCommand({ Bucket: worker.bucket, Key: key }));
      const pcm = await decodeToPcm(Buffer.from(await object.Body!.transformToByteArray()));
      expect(pcm.samples.length / 16_000).toBeGreaterThan((Number(d.data.endMs) - Number(d.data.startMs)) / 1000);
      expect(segmentId(String((d.data.participant as { identity: string }).identity), Number(d.data.sequence))).toBe(d.data.segmentId);
    }

    // The service is back: the pipeline's workers store the live segments and transcribe the spool.
    const sttBack = createSpeechToText({ STT_PROVIDER: 'openai-compatible', STT_BASE_URL: `${stt.url}/v1`, STT_API_KEY: '', STT_MODEL: 'whisper-large-v3', STT_CONCURRENCY: 2, STT_TIMEOUT_MS: 30_000 });
    pipeline.push(
      startSegmentWorker(probe.redis.duplicate(), probe.store, DEFAULT_CRASH_SAFETY),
      startDeferredSttWorker(probe.redis.duplicate(), { store: probe.store, s3, bucket: worker.bucket, stt: sttBack }, DEFAULT_CRASH_SAFETY, 2),
    );
    const stored = await probe.waitFor('every segment in the store', () => probe.store.segments(meetingId), (s) => s.length >= truth.length, 60_000);
    expect(stored).toHaveLength(truth.length);
    expect(stored.filter((s) => s.deferred).map((s) => s.segmentId).sort()).toEqual(deferred.map((d) => String(d.data.segmentId)).sort());
    const transcript = [...stored].sort((a, b) => a.startMs - b.startMs);
    expect(transcript.map((t) => `${t.participant.identity}: ${words(t.text).join(' ')}`)).toEqual(truth.map((u) => `${u.speaker}: ${words(u.text).join(' ')}`));
    // The spooled audio does not outlive its text: the worker deletes it right after storing the
    // segment, so the last deletion may still be on its way when the last segment shows.
    const spool = () => s3.send(new ListObjectsV2Command({ Bucket: worker.bucket, Prefix: `meetings/${meetingId}/audio-spool/` }));
    await probe.waitFor('every spooled audio file to be deleted', spool, (l) => (l.KeyCount ?? 0) === 0, 10_000);
  }, 240_000);
});
