/**
 * How the agent behaves in a live room: a full room, a participant who opts out and back in, one
 * who opts out from the start, a late joiner, a publisher that unpublishes and republishes, and
 * the end of the meeting when the last human leaves.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ParticipantKind, type Room } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { joinAsListener, joinAsSpeaker, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { signRecipient } from '../../src/agent/recipient-trust.js';
import { requestStop } from '../../src/meeting/stop-signal.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { dispatchAgent, FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, httpUrl, QueueProbe, sleep, startAgentWorker, words, type AgentWorker } from './harness.js';

const script = fixtureScript();
const utterance = (id: string) => script.utterances.find((u) => u.id === id)!;

// The bots may rewrite their attributes (they set opt-outs), so their addresses count only signed.
const SIGNING_KEY = 'room-behaviour-test-key-0123456789abcdef';
const signedEmail = (identity: string, email: string) => ({ email, 'email.sig': signRecipient(SIGNING_KEY, identity, email) });

const agentIn = (room: Room) => [...room.remoteParticipants.values()].find((p) => p.kind === ParticipantKind.AGENT);

describe('the agent in a live room', () => {
  const services = inject('services');
  const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
  const base = { url: services.LIVEKIT_URL, auth };
  let stt: ReplayServer;
  let worker: AgentWorker;
  let probe: QueueProbe;
  const bots: { disconnect(): Promise<void> }[] = [];

  beforeAll(async () => {
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    // One segment per utterance (sentence-pause cuts off): this file checks who is transcribed when,
    // utterance by utterance; where sentence pauses cut is checked in fixture-meeting / long-monologue.
    // Interim captions on (off by default): the full room's listener sees them replaced by the final.
    worker = await startAgentWorker(services, stt.url, { RECIPIENT_SIGNING_KEY: SIGNING_KEY, CAPTION_SENTENCE_PAUSES: 'false', INTERIM_CAPTIONS: 'true' });
    probe = new QueueProbe(services);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(bots.map((b) => b.disconnect().catch(() => undefined)));
    await worker?.stop();
    await probe?.close();
    await stt?.close();
  });

  it('joins a full room without taking a seat: a further human is still refused', async () => {
    const room = `full-${randomUUID().slice(0, 8)}`;
    const meetingId = `full-${randomUUID().slice(0, 8)}`;
    const opened = await new RoomServiceClient(httpUrl(services.LIVEKIT_URL), auth.apiKey, auth.apiSecret).createRoom({ name: room, maxParticipants: 2, emptyTimeout: 60 });
    const alice = await joinAsSpeaker({ ...base, room, identity: 'alice', name: 'Alice Martin', file: `${FIXTURE_DIR}/alice.opus`, durationMs: 11_000, autoplay: false });
    const bruno = await joinAsListener({ ...base, room, identity: 'bruno', name: 'Bruno Lefèvre' });
    bots.push(alice, bruno);

    await dispatchAgent(services, room, worker.agentName, { meetingId });
    const agent = await probe.waitFor('the agent to join', async () => agentIn(bruno.room), (p) => p?.attributes['transcription.state'] === 'active', 30_000);
    expect(agent?.attributes).toMatchObject({ 'transcription.meeting_id': meetingId, 'transcription.language': 'fr' });
    // Dispatched without the API, the meeting still records the room instance it runs in (authority follows it).
    expect((await probe.store.get(meetingId))?.roomSid).toBe(opened.sid);

    // The room is full for humans, exactly as before the agent came.
    await expect(joinAsListener({ ...base, room, identity: 'chloe' }).then((b) => bots.push(b))).rejects.toThrow();

    // And the agent does its work there.
    await sleep(1_000);
    await alice.play();
    // u01 ends 9.7 s into the 11 s clip, played in real time: the wait covers the clip and a busy machine.
    const segments = await probe.waitFor('alice\u2019s first utterance', () => probe.segments(meetingId), (s) => s.length >= 1, 11_000 + 20_000);
    expect(segments[0]!.participant).toEqual({ identity: 'alice', name: 'Alice Martin' });
    expect(words(segments[0]!.text)).toEqual(words(utterance('u01').text));
    expect(segments).toHaveLength(1); // interims are never segments

    // INTERIM_CAPTIONS=true: u01 opens with a 3.2 s sentence, then a 250 ms pause that does not end
    // the utterance. Bruno reads that sentence as an interim caption before Alice has finished, then
    // the final replaces it: same segment id, same speaker and track.
    const captions = await bruno.waitForCaptions((c) => c.some((x) => x.attributes['lk.transcription_final'] === 'true'), 10_000);
    const final = captions.find((c) => c.attributes['lk.transcription_final'] === 'true')!;
    expect(final.attributes['lk.segment_id']).toBe(segments[0]!.segmentId);
    expect(words(final.text)).toEqual(words(utterance('u01').text));
    const interims = captions.filter((c) => c.attributes['lk.transcription_final'] === 'false');
    expect(interims.length).toBeGreaterThan(0);
    for (const c of interims) {
      expect(c).toMatchObject({ senderIdentity: 'alice', attributes: { 'lk.segment_id': final.attributes['lk.segment_id'], 'lk.transcribed_track_id': final.attributes['lk.transcribed_track_id'] } });
      expect(c.receivedAtMs).toBeLessThanOrEqual(final.receivedAtMs);
      expect(captions.indexOf(c)).toBeLessThan(captions.indexOf(final));
    }
    // The first interim shows the opening sentence's words (a prefix of the final), before the utterance's end.
    const opening = words(utterance('u01').sentences[0]!.text);
    expect(words(interims[0]!.text)).toEqual(opening);
    expect(interims[0]!.receivedAtMs).toBeLessThan(alice.startedAtMs! + utterance('u01').endMs);
    console.log(
      `interim captions: ${interims.length} before the final; the first received ${interims[0]!.receivedAtMs - (alice.startedAtMs! + utterance('u01').sentences[0]!.endMs)} ms after its sentence's end, the final ${final.receivedAtMs - (alice.startedAtMs! + utterance('u01').sentences[0]!.endMs)} ms after it`,
    );

    await requestStop(probe.redis, meetingId);
    await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endReason === 'host_stop', 30_000);
    await probe.waitFor('the agent to leave', async () => agentIn(bruno.room), (p) => p === undefined, 30_000);
  }, 90_000);

  it('honours opt-outs, follows late joiners and republished tracks, and ends when the last human leaves', async () => {
    const room = `life-${randomUUID().slice(0, 8)}`;
    const meetingId = `life-${randomUUID().slice(0, 8)}`;
    // Ends in the pause after Chloé's u06 (ends 43.8 s), before Bruno's u07 (44.6 s): stopping the
    // bots in the middle of a word would leave a real but truncated utterance no cassette knows.
    const PLAY_MS = 44_200;
    const participants = Object.fromEntries(script.participants.map((p) => [p.identity, p]));
    const speaker = (identity: string, extra: Partial<Parameters<typeof joinAsSpeaker>[0]> = {}) =>
      joinAsSpeaker({
        ...base,
        room,
        identity,
        name: participants[identity]!.name,
        attributes: { ...signedEmail(identity, participants[identity]!.email), ...(extra.attributes ?? {}) },
        file: `${FIXTURE_DIR}/${identity}.opus`,
        durationMs: PLAY_MS,
        autoplay: false,
        ...extra,
      });
    const alice = await speaker('alice');
    // Chloé's token says "do not transcribe me" from the start.
    const chloe = await speaker('chloe', { attributes: { ...signedEmail('chloe', participants.chloe!.email), 'transcription.optout': 'true' } });
    const observer = await joinAsListener({ ...base, room, identity: 'observer' });
    bots.push(alice, chloe, observer);

    await dispatchAgent(services, room, worker.agentName, { meetingId });
    await probe.waitFor('the agent', async () => agentIn(observer.room), (p) => p?.attributes['transcription.state'] === 'active', 30_000);
    await sleep(1_000);
    const t0 = Date.now() + 500;
    const at = (ms: number) => sleep(t0 + ms - Date.now());
    const plays = [alice, chloe].map((b) => b.play());

    // Bruno joins late, 8 s in, and plays his track from there, in time with the others.
    await at(8_000);
    const bruno: SpeakerBot = await speaker('bruno', { offsetMs: 9_000, durationMs: PLAY_MS - 9_000, startAtMs: t0 + 9_000 });
    bots.push(bruno);
    plays.push(bruno.play());
    const brunoFirstSid = bruno.trackSid;

    await at(12_000); // after Alice's u01 (1.0–9.7 s)
    await alice.setAttributes({ 'transcription.optout': 'true' }); // so u03 (19.3–23.8 s) is not transcribed
    await at(20_000); // after Bruno's u02 (10.9–18.4 s)
    await bruno.unpublish();
    await at(23_000);
    await bruno.republish(); // before his u04 (24.9–31.7 s)
    await at(28_000);
    await alice.setAttributes({ 'transcription.optout': 'false' }); // u05 (32.7–38.4 s) is transcribed again
    await Promise.all(plays);
    await sleep(1_500);
    for (const b of [alice, chloe, bruno, observer]) await b.disconnect();

    const meeting = await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endedAt != null, 40_000);
    expect(meeting!.endReason).toBe('last_participant_left');

    const segments = await probe.segments(meetingId);
    expect(segments.map((s) => `${s.participant.identity}:${words(s.text).join(' ')}`)).toEqual(
      ['u01', 'u02', 'u04', 'u05'].map((id) => `${utterance(id).speaker}:${words(utterance(id).text).join(' ')}`),
    );
    const [, u02, u04] = segments;
    expect(u02!.trackSid).toBe(brunoFirstSid);
    expect(u04!.trackSid).not.toBe(brunoFirstSid);
    expect(u04!.trackSid).toBe(bruno.trackSid ?? u04!.trackSid);
    // Chloé (opted out all along) and Alice's opted-out u03 never reached speech-to-text.
    expect(stt.stats().calls['openai.transcriptions']).toBeGreaterThanOrEqual(4);
    expect(segments.some((s) => s.participant.identity === 'chloe')).toBe(false);

    const events = await probe.store.events(meetingId);
    const optEvents = events.filter((e) => e.type === 'opted_out' || e.type === 'opted_in').map((e) => `${e.type}:${e.participant?.identity}`);
    expect(optEvents).toEqual(['opted_out:chloe', 'opted_out:alice', 'opted_in:alice']);
    const aliceOut = events.find((e) => e.type === 'opted_out' && e.participant?.identity === 'alice')!;
    expect(aliceOut.atMs).toBeGreaterThan(segments[0]!.endMs);
    expect(events.some((e) => e.type === 'participant_joined' && e.participant?.identity === 'bruno')).toBe(true);
    const stored = await probe.store.participants(meetingId);
    expect(stored.find((p) => p.identity === 'chloe')).toMatchObject({ optedOut: true, email: participants.chloe!.email });
    expect(stored.find((p) => p.identity === 'alice')).toMatchObject({ optedOut: false });
  }, 150_000);
});
