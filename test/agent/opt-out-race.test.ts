/**
 * Words spoken before an opt-out were spoken under the notice: they are kept. Issue 11 saw the
 * live-room test lose Alice's first utterance (u01, 1.0–9.7 s) when she opted out at 12 s. These
 * tests make the two ways an utterance can still be on its way at the opt-out happen every time,
 * on a real LiveKit room with the agent's own per-room code (MeetingTranscriber, UtteranceProcessor,
 * the real speech-to-text client against the replay server, Redis queues):
 *   - the VAD is behind (a busy machine): u01 was received but not yet analysed nor cut;
 *   - speech-to-text has not answered yet: u01 was cut and sent, the answer comes after.
 * Only u01 is played (about 10 s), through a bot publishing Alice's fixture track.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { Room } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { sendCaption } from '../../src/agent/captions.js';
import { MeetingTranscriber } from '../../src/agent/meeting-transcriber.js';
import { serverMetadataPermission } from '../../src/agent/recipient-trust.js';
import { SequenceCounter } from '../../src/agent/sequence-counter.js';
import { SileroVad, type SpeechModel, type SpeechScorer } from '../../src/agent/silero-vad.js';
import { UtteranceProcessor } from '../../src/agent/utterance-processor.js';
import { loadConfig, type Config } from '../../src/config.js';
import { joinAsSpeaker, type SpeakerBot } from '../../src/local/meeting-bot.js';
import { createLogger } from '../../src/logging.js';
import { MeetingQueues } from '../../src/pipelines/queues/producers.js';
import { createSpeechToText } from '../../src/pipelines/stt/index.js';
import { startReplayServer, type ReplayServer } from '../../src/replay/server.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { FIXTURE_CASSETTE, FIXTURE_DIR, fixtureScript, httpUrl, QueueProbe, words } from './harness.js';

const u01 = fixtureScript().utterances.find((u) => u.id === 'u01')!;
/** From 0.5 s before u01 to 0.7 s after it: the bot's track holds u01 and the pause that ends it. */
const CLIP = { offsetMs: u01.startMs - 500, durationMs: u01.endMs - u01.startMs + 1_200 };
const OPT_OUT = { 'transcription.optout': 'true' };
/**
 * How long the clip takes to reach the agent and be cut, plus room for a busy machine: playback is
 * real time, so a wait shorter than the clip fails on any machine (CI once timed out at 10 s).
 */
const CLIP_ARRIVES_MS = CLIP.durationMs + 20_000;

/** Silero, with a switch that makes every track's scoring wait: the VAD falls behind on demand. */
class HeldVad implements SpeechModel {
  #open: Promise<void> = Promise.resolve();
  #release: () => void = () => undefined;

  constructor(private readonly model: SpeechModel) {}

  hold(): void {
    this.#open = new Promise((r) => (this.#release = r));
  }

  release(): void {
    this.#release();
  }

  scorer(): SpeechScorer {
    const inner = this.model.scorer();
    return {
      score: async (window) => {
        await this.#open;
        return inner.score(window);
      },
    };
  }
}

describe('an opt-out keeps what was said before it', () => {
  const services = inject('services');
  const logger = createLogger('agent', 'warn');
  let stt: ReplayServer;
  let vad: HeldVad;
  let config: Config;
  let probe: QueueProbe;
  let queues: MeetingQueues;
  let open: { room: Room; bot: SpeakerBot; transcriber: MeetingTranscriber } | null = null;

  beforeAll(async () => {
    stt = await startReplayServer({ provider: 'openai', cassettes: [FIXTURE_CASSETTE] });
    vad = new HeldVad(await SileroVad.load());
    const bucket = `opt-out-race-${randomUUID().slice(0, 8)}`;
    await createS3Client(services).send(new CreateBucketCommand({ Bucket: bucket }));
    config = loadConfig('worker', {
      ...services,
      S3_BUCKET: bucket,
      STT_PROVIDER: 'openai-compatible',
      STT_BASE_URL: `${stt.url}/v1`,
      STT_MODEL: 'whisper-large-v3',
      STT_LANGUAGE: 'fr',
    });
    probe = new QueueProbe(services);
    queues = new MeetingQueues(probe.redis);
  }, 60_000);

  afterEach(async () => {
    vad.release();
    stt.clearFaults();
    stt.releaseHeld();
    if (!open) return;
    await open.transcriber.end('host_stop');
    await open.bot.disconnect();
    await open.room.disconnect();
    open = null;
  });

  afterAll(async () => {
    await queues?.close();
    await probe?.close();
    await stt?.close();
  });

  /** The agent's per-room code on a real room with Alice in it, her clip not yet played. */
  async function meetingWithAlice(): Promise<{ meetingId: string; alice: SpeakerBot; transcriber: MeetingTranscriber }> {
    const roomName = `optout-race-${randomUUID().slice(0, 8)}`;
    const meetingId = `optout-race-${randomUUID().slice(0, 8)}`;
    const auth = { apiKey: services.LIVEKIT_API_KEY, apiSecret: services.LIVEKIT_API_SECRET };
    const alice = await joinAsSpeaker({
      url: services.LIVEKIT_URL,
      auth,
      room: roomName,
      identity: 'alice',
      name: 'Alice Martin',
      file: `${FIXTURE_DIR}/alice.opus`,
      ...CLIP,
      autoplay: false,
    });

    const token = new AccessToken(auth.apiKey, auth.apiSecret, { identity: 'agent', name: 'Transcription', ttl: '10m' });
    token.kind = 'agent';
    token.addGrant({ roomJoin: true, room: roomName, agent: true, canPublish: false, canSubscribe: true, canPublishData: true, canUpdateOwnMetadata: true });
    const room = new Room();
    await room.connect(services.LIVEKIT_URL, await token.toJwt(), { autoSubscribe: false, dynacast: false });

    await probe.store.create({ meetingId, room: roomName, language: 'fr', requester: null, glossary: [] });
    const wallMs = Date.now();
    const processor = new UtteranceProcessor({
      meetingId,
      language: 'fr',
      stt: createSpeechToText(config, { logger }),
      queues,
      s3: createS3Client(config),
      bucket: config.S3_BUCKET,
      prefix: config.S3_PREFIX,
      liveDeadlineMs: config.STT_TIMEOUT_MS,
      retentionDays: config.RETENTION_DAYS,
      logger,
      captions: (u, text) => sendCaption(room, u, text),
    });
    const transcriber = new MeetingTranscriber({
      room,
      meetingId,
      language: 'fr',
      clockZero: { wallMs, perf: performance.now() },
      vad,
      processor,
      sequences: new SequenceCounter(probe.redis, meetingId, probe.store.ttlSeconds),
      store: probe.store,
      queues,
      maxUtteranceMs: config.MAX_UTTERANCE_SECONDS * 1000,
      maxMeetingMs: 10 * 60_000,
      mayRewriteAttributes: serverMetadataPermission(new RoomServiceClient(httpUrl(services.LIVEKIT_URL), auth.apiKey, auth.apiSecret), roomName),
      recipientSigningKey: undefined,
      logger,
    });
    open = { room, bot: alice, transcriber };
    await transcriber.start();
    await probe.waitFor('the agent to capture alice', async () => transcriber.activeCaptures, (n) => n === 1, 15_000);
    return { meetingId, alice, transcriber };
  }

  const optOutOf = (meetingId: string) =>
    probe.waitFor(
      'the agent to record the opt-out',
      () => probe.store.events(meetingId),
      (events) => events.some((e) => e.type === 'opted_out' && e.participant?.identity === 'alice'),
      15_000,
    ).then((events) => events.find((e) => e.type === 'opted_out')!);

  const expectU01 = (segments: Awaited<ReturnType<QueueProbe['segments']>>) => {
    expect(segments.map((s) => `${s.participant.identity}:${words(s.text).join(' ')}`)).toEqual([`alice:${words(u01.text).join(' ')}`]);
    expect(segments[0]!.deferred).toBe(false);
  };

  it('when the VAD is still behind at the opt-out, the utterance spoken before it is cut and transcribed', async () => {
    const { meetingId, alice, transcriber } = await meetingWithAlice();
    vad.hold();
    await alice.play();
    // All of u01 and the pause after it reached the agent, and none of it was analysed yet.
    await probe.waitFor('the clip to reach the agent', async () => transcriber.vadBacklogMs, (ms) => ms >= CLIP.durationMs - 300, CLIP_ARRIVES_MS);

    await alice.setAttributes(OPT_OUT);
    const optedOut = await optOutOf(meetingId);
    expect(transcriber.activeCaptures).toBe(0);
    expect(stt.stats().calls['openai.transcriptions'] ?? 0).toBe(0);

    vad.release();
    const segments = await probe.waitFor('u01 to be stored', () => probe.segments(meetingId), (s) => s.length >= 1, 20_000);
    expectU01(segments);
    expect(segments[0]!.endMs).toBeLessThan(optedOut.atMs);
    expect(stt.stats().calls['openai.transcriptions']).toBe(1);
  }, 90_000);

  it('when speech-to-text answers after the opt-out, the utterance is stored', async () => {
    const { meetingId, alice } = await meetingWithAlice();
    const callsBefore = stt.stats().calls['openai.transcriptions'] ?? 0;
    // The answer for u01 is held until the opt-out is recorded: the order is certain, not likely.
    stt.setFaults({ route: 'openai.transcriptions', hold: true, times: 1 });
    await alice.play();
    await probe.waitFor('u01 to be sent to speech-to-text', async () => stt.held, (n) => n === 1, CLIP_ARRIVES_MS);

    await alice.setAttributes(OPT_OUT);
    const optedOut = await optOutOf(meetingId);
    expect(await probe.segments(meetingId)).toEqual([]);
    expect(stt.releaseHeld()).toBe(1);

    const segments = await probe.waitFor('u01 to be stored', () => probe.segments(meetingId), (s) => s.length >= 1, 20_000);
    expectU01(segments);
    expect(segments[0]!.endMs).toBeLessThan(optedOut.atMs);
    expect(stt.stats().calls['openai.transcriptions']).toBe(callsBefore + 1); // the held answer was the one stored
  }, 90_000);
});
