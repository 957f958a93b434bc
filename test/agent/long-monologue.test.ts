/**
 * A speaker who talks for 90 s without a pause longer than 300 ms: Silero alone would stop
 * buffering at 60 s and lose the rest; the agent cuts the monologue at its short pauses into pieces
 * of at most MAX_UTTERANCE_SECONDS, and no word is lost.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { joinAsSpeaker, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { dispatchAgent, QueueProbe, sleep, startAgentWorker, words, type AgentWorker } from './harness.js';
import { makeMonologue, type Monologue } from './monologue.js';

describe('a 90-second monologue', () => {
  const services = inject('services');
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const room = `monologue-${randomUUID().slice(0, 8)}`;
  const meetingId = `monologue-${randomUUID().slice(0, 8)}`;
  let monologue: Monologue;
  let stt: ReplayServer;
  let worker: AgentWorker;
  let probe: QueueProbe;
  let bot: SpeakerBot;

  beforeAll(async () => {
    monologue = await makeMonologue(mkdtempSync(join(tmpdir(), 'monologue-')));
    stt = await startReplayServer({ provider: 'openai', cassettes: [monologue.cassette] });
    worker = await startAgentWorker(services, stt.url, { MAX_UTTERANCE_SECONDS: '30' });
    probe = new QueueProbe(services);
  }, 60_000);

  afterAll(async () => {
    await bot?.disconnect().catch(() => undefined);
    await worker?.stop();
    await probe?.close();
    await stt?.close();
  });

  it('is cut into pieces of at most 30 s at its pauses, and every word is in the transcript once', async () => {
    expect(monologue.durationMs).toBeGreaterThan(90_000);
    // No pause in it is longer than 300 ms: Silero's 550 ms end-of-speech never fires.
    for (let i = 1; i < monologue.sentences.length; i++) expect(monologue.sentences[i]!.startMs - monologue.sentences[i - 1]!.endMs).toBeLessThan(300);

    bot = await joinAsSpeaker({ url: services.LIVEKIT_URL, auth, room, identity: 'orateur', name: 'Odile Renard', file: monologue.file, autoplay: false });
    await dispatchAgent(services, room, worker.agentName, { meetingId });
    await probe.waitFor('the meeting to start', () => probe.store.get(meetingId), (m) => m?.status === 'active', 30_000);
    await sleep(2_000);
    await bot.play();
    await sleep(1_000);
    await requestStop(probe.redis, meetingId);
    await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endedAt != null, 60_000);

    const segments = await probe.segments(meetingId);
    expect(segments.length).toBeGreaterThanOrEqual(4); // 95 s in pieces of at most 30 s
    for (const s of segments) expect(s.endMs - s.startMs).toBeLessThanOrEqual(30_000);
    // Pieces follow each other without overlapping.
    for (let i = 1; i < segments.length; i++) expect(segments[i]!.startMs).toBeGreaterThanOrEqual(segments[i - 1]!.endMs);
    expect(segments.flatMap((s) => words(s.text))).toEqual(monologue.sentences.flatMap((s) => words(s.text)));
    expect(segments.map((s) => s.sequence)).toEqual(segments.map((_, i) => i));
    // Every cut fell between two sentences: each piece holds whole sentences.
    const all = monologue.sentences.map((s) => words(s.text).join(' '));
    for (const s of segments) {
      const text = words(s.text).join(' ');
      expect(all.some((sentence) => text.startsWith(sentence))).toBe(true);
    }
  }, 200_000);
});
