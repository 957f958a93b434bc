/**
 * The fixture meeting, played in real time by one bot per participant (the silent one too) in a
 * real LiveKit room, transcribed by the real agent worker with speech-to-text replayed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ListenerBot, SpeakerBot } from '../../src/local/meeting-bot.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { participantKey, segmentId } from '../../src/meeting/segment.js';
import { buildTranscript } from '../../src/pipelines/transcript/transcript.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { dispatchAgent, FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, joinMeetingBots, QueueProbe, sleep, startAgentWorker, waitForActiveAgent, words, type AgentWorker } from './harness.js';

const script = fixtureScript();
const PLAY_MS = script.durationMs;

describe('the agent transcribes the fixture meeting', () => {
  const services = inject('services');
  const room = `fixture-${randomUUID().slice(0, 8)}`;
  const meetingId = `fixture-${randomUUID().slice(0, 8)}`;
  let stt: ReplayServer;
  let worker: AgentWorker;
  let probe: QueueProbe;
  let listener: ListenerBot;
  let speakers: SpeakerBot[] = [];
  let playStartMs = 0;

  beforeAll(async () => {
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    worker = await startAgentWorker(services, stt.url);
    probe = new QueueProbe(services);
    // Tokens as a backend mints them for people who do not opt out: attributes locked, so the agent
    // may trust the address the token carries (docs/interfaces.md).
    ({ listener, speakers } = await joinMeetingBots(services, room, script.participants, { dir: FIXTURE_DIR, durationMs: PLAY_MS, canUpdateOwnMetadata: false }));
    await dispatchAgent(services, room, worker.agentName, { meetingId, language: 'fr', requester: { identity: 'alice', email: 'alice.martin@mairie-exemple.fr' }, glossary: ['urbanisme'] });
    await waitForActiveAgent(probe, listener);
    await sleep(1_000); // its subscriptions settle
    playStartMs = Date.now() + 500;
    for (const s of speakers) void s.play();
    await Promise.all(speakers.map((s) => s.finished));
    await sleep(2_000); // the last utterance's closing silence
    await requestStop(probe.redis, meetingId);
    await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endedAt != null, 60_000);
  }, PLAY_MS + 150_000);

  afterAll(async () => {
    await Promise.all([...speakers, listener].map((b) => b?.disconnect().catch(() => undefined)));
    await worker?.stop();
    await probe?.close();
    await stt?.close();
  });

  it('queues every utterance as pieces of whole sentences, with the right speaker, in order, within 300 ms of the truth', async () => {
    const segments = await probe.segments(meetingId);
    const meeting = await probe.store.get(meetingId);
    const zero = Date.parse(meeting!.startedAt!);
    const truth = script.utterances.filter((u) => u.endMs <= PLAY_MS);
    const names = new Map(script.participants.map((p) => [p.identity, p.name]));
    const starts = speakers.map((s) => s.startedAtMs!);
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(50);
    // Meeting time of a ground-truth instant (ms into the fixture).
    const meetingMs = (fixtureMs: number) => starts[0]! + fixtureMs - zero;
    // An utterance past 3.5 s of speech is cut at its sentence pauses (live captions, on by
    // default): each piece belongs to one utterance of its speaker, the pieces of an utterance follow
    // each other in the queue, and together give back its words.
    const ownerOf = (s: (typeof segments)[number]) =>
      truth.filter((u) => u.speaker === s.participant.identity && s.startMs < meetingMs(u.endMs) + 300 && s.endMs > meetingMs(u.startMs) - 300);
    for (const s of segments) expect(ownerOf(s), `${s.segmentId} at ${s.startMs} ms`).toHaveLength(1);
    expect(segments.map((s) => truth.indexOf(ownerOf(s)[0]!))).toEqual([...segments.map((s) => truth.indexOf(ownerOf(s)[0]!))].sort((a, b) => a - b));
    const pieces = truth.map((u) => segments.filter((s) => ownerOf(s)[0] === u));
    expect(segments.length).toBeLessThanOrEqual(Math.ceil(truth.length * 1.2)); // 26 for 22 utterances offline
    for (const [i, u] of truth.entries()) {
      const own = pieces[i]!;
      expect(own.length, u.id).toBeGreaterThan(0);
      expect(own.flatMap((s) => words(s.text)), u.id).toEqual(words(u.text));
      expect(Math.abs(own[0]!.startMs - meetingMs(u.startMs)), `${u.id} start`).toBeLessThan(300);
      expect(Math.abs(own.at(-1)!.endMs - meetingMs(u.endMs)), `${u.id} end`).toBeLessThan(300);
      // Where cuts fall against the sentences is checked offline, deterministically
      // (src/agent/utterance-cuts.test.ts); live, a pause inside a long sentence may read as a
      // sentence pause, which cuts no word: the replay double answers each piece with its own words.
    }
    for (const s of segments) {
      expect(s.participant.name).toBe(names.get(s.participant.identity));
      expect(Date.parse(s.startedAt)).toBe(zero + s.startMs);
      expect(s).toMatchObject({ meetingId, language: 'fr', deferred: false, provider: 'openai-compatible' });
    }
    // The transcript merges the pieces back into the speakers' turns, as spoken.
    const transcript = buildTranscript({ meetingId, language: 'fr', startedAt: meeting!.startedAt ?? null, endedAt: meeting!.endedAt ?? null, participants: [], segments });
    expect(transcript.turns.map((t) => t.speaker.identity)).toEqual(truth.map((u) => u.speaker));
    for (const [i, t] of transcript.turns.entries()) {
      expect(words(t.text)).toEqual(words(truth[i]!.text));
      expect(Math.abs(t.startMs - meetingMs(truth[i]!.startMs))).toBeLessThan(300);
      expect(Math.abs(t.endMs - meetingMs(truth[i]!.endMs))).toBeLessThan(300);
    }
    // Sequence numbers per speaker, from 0, and deterministic ids.
    for (const p of script.participants) {
      const own = segments.filter((s) => s.participant.identity === p.identity);
      expect(own.map((s) => s.sequence)).toEqual(own.map((_, i) => i));
      expect(own.map((s) => s.segmentId)).toEqual(own.map((_, i) => segmentId(p.identity, i)));
    }
    expect(playStartMs).toBeGreaterThan(0);
  });

  it('sends a caption for every utterance, on behalf of its speaker, with the transcription attributes', async () => {
    // A piece transcribed as nothing is queued (the finaliser counts it) but not captioned.
    const segments = (await probe.segments(meetingId)).filter((s) => s.text.trim() !== '');
    await listener.waitForCaptions((c) => c.length >= segments.length, 10_000);
    expect(listener.captions.map((c) => c.senderIdentity)).toEqual(segments.map((s) => s.participant.identity));
    for (const [i, c] of listener.captions.entries()) {
      const s = segments[i]!;
      expect(c.attributes).toEqual({ 'lk.transcribed_track_id': s.trackSid, 'lk.segment_id': s.segmentId, 'lk.transcription_final': 'true' });
      expect(c.text).toBe(s.text);
    }
    // The track id is the speaker's real microphone publication.
    const alice = speakers.find((s) => s.identity === 'alice')!;
    expect(listener.captions.find((c) => c.senderIdentity === 'alice')!.attributes['lk.transcribed_track_id']).toBe(alice.trackSid);
  });

  it('never calls speech-to-text for the silent participant', async () => {
    const segments = await probe.segments(meetingId);
    expect(segments.some((s) => s.participant.identity === 'david')).toBe(false);
    expect(stt.stats().calls['openai.transcriptions']).toBe(segments.length);
    expect(stt.unmatched).toHaveLength(0);
  });

  it('tells the room, stores the participants with their addresses, and ends the meeting when asked', async () => {
    expect(listener.chat).toHaveLength(1);
    expect(listener.chat[0]!.text).toMatch(/transcription de cette réunion est activée/i);
    const meeting = await probe.store.get(meetingId);
    expect(meeting).toMatchObject({ room, language: 'fr', endReason: 'host_stop', glossary: ['urbanisme'], requester: { identity: 'alice', email: 'alice.martin@mairie-exemple.fr' } });
    const segments = await probe.segments(meetingId);
    const counts: Record<string, number> = {};
    for (const s of segments) counts[participantKey(s.participant.identity)] = (counts[participantKey(s.participant.identity)] ?? 0) + 1;
    expect(meeting!.segmentCounts).toEqual(counts);
    const participants = await probe.store.participants(meetingId);
    expect(participants.map((p) => p.identity).sort()).toEqual(['alice', 'bruno', 'chloe', 'david', 'observer']);
    for (const p of script.participants) expect(participants.find((x) => x.identity === p.identity)).toMatchObject({ name: p.name, email: p.email, optedOut: false });
    expect(await probe.store.currentMeetingOfRoom(room)).toBeNull();
  });

  it('writes no transcript text to its logs', () => {
    const all = worker.logs.join('\n');
    for (const u of script.utterances) expect(all).not.toContain(u.text.slice(0, 30));
  });
});
