/**
 * Speech-to-text answers 503 for 30 s, then 429 with Retry-After, then slowly. Nothing said in
 * the meantime is lost: the agent spools the audio of the utterances it could not transcribe live
 * to S3 and queues deferred jobs; transcribing those once the service is back gives the same
 * transcript as a meeting without faults.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { joinAsSpeaker, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { requestStop } from '../../src/agent/stop-signal.js';
import { decodeToPcm } from '../../src/pipelines/audio/ffmpeg.js';
import { segmentId } from '../../src/pipelines/transcript/segment.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { dispatchAgent, FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, QueueProbe, sleep, startAgentWorker, words, type AgentWorker } from './harness.js';

const script = fixtureScript();
const PLAY_MS = 49_000; // u01–u07
const truth = script.utterances.filter((u) => u.endMs <= PLAY_MS);
const ROUTE = 'openai.transcriptions' as const;

/** What the deferred worker does with a spooled utterance: send the FLAC to speech-to-text. */
async function transcribeFile(sttUrl: string, flac: Uint8Array): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([flac], { type: 'audio/flac' }), 'utterance.flac');
  form.append('model', 'whisper-large-v3');
  form.append('language', 'fr');
  form.append('response_format', 'json');
  const res = await fetch(`${sttUrl}/v1/audio/transcriptions`, { method: 'POST', body: form });
  expect(res.status).toBe(200);
  return ((await res.json()) as { text: string }).text;
}

describe('speech-to-text outage during a meeting', () => {
  const services = inject('services');
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const room = `outage-${randomUUID().slice(0, 8)}`;
  const meetingId = `outage-${randomUUID().slice(0, 8)}`;
  let stt: ReplayServer;
  let worker: AgentWorker;
  let probe: QueueProbe;
  const bots: SpeakerBot[] = [];

  beforeAll(async () => {
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    // A live transcription slower than 4 s is given up and spooled.
    worker = await startAgentWorker(services, stt.url, { STT_TIMEOUT_MS: '4000' });
    probe = new QueueProbe(services);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
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

    // The deferred worker's part: fetch each spooled FLAC and transcribe it with the service back.
    const s3 = createS3Client(services);
    const recovered = [];
    for (const d of deferred) {
      const key = String(d.data.audioKey);
      expect(key).toBe(`meetings/${meetingId}/audio-spool/${String(d.data.segmentId)}.flac`);
      const object = await s3.send(new GetObjectCommand({ Bucket: worker.bucket, Key: key }));
      const flac = await object.Body!.transformToByteArray();
      const pcm = await decodeToPcm(Buffer.from(flac));
      const seconds = pcm.samples.length / 16_000;
      expect(seconds).toBeGreaterThan((Number(d.data.endMs) - Number(d.data.startMs)) / 1000);
      expect(segmentId(String((d.data.participant as { identity: string }).identity), Number(d.data.sequence))).toBe(d.data.segmentId);
      recovered.push({ startMs: Number(d.data.startMs), speaker: (d.data.participant as { identity: string }).identity, text: await transcribeFile(stt.url, flac) });
    }
    const transcript = [...live.map((s) => ({ startMs: s.startMs, speaker: s.participant.identity, text: s.text })), ...recovered].sort((a, b) => a.startMs - b.startMs);
    expect(transcript.map((t) => `${t.speaker}: ${words(t.text).join(' ')}`)).toEqual(truth.map((u) => `${u.speaker}: ${words(u.text).join(' ')}`));
  }, 180_000);
});
