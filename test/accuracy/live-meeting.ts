/**
 * Plays a fixture meeting in a real LiveKit room, one bot per participant (silent and noisy
 * microphones included), transcribed live by the real agent worker (`meeting-agent worker`) with the
 * speech-to-text service it is given; returns what the agent queued, on the script's timeline.
 * Shared by the real-recogniser agent test and `npm run bench -- accuracy`.
 */
import { randomUUID } from 'node:crypto';
import { requestStop } from '../../src/meeting/stop-signal.js';
import type { ListenerBot, SpeakerBot } from '../../src/local/meeting-bot.js';
import type { TranscriptSegment } from '../../src/meeting/segment.js';
import type { MeetingScript } from '../../src/replay/ground-truth.js';
import type { ServicesEnv } from '../global-setup.js';
import { dispatchAgent, joinMeetingBots, QueueProbe, sleep, startAgentWorker, waitForActiveAgent, type AgentWorker } from '../agent/harness.js';

export interface LiveMeetingOptions {
  services: ServicesEnv;
  meetingDir: string;
  script: MeetingScript;
  /** Speech-to-text origin (the worker appends /v1) and the settings that go with it. */
  sttOrigin: string;
  sttEnv: Record<string, string>;
  /** How long to wait, after the audio ends, for the last utterances' transcriptions. */
  drainMs?: number;
}

export interface LiveMeetingResult {
  meetingId: string;
  /** What the agent queued, sorted by start, with `scriptStartMs` on the fixture's timeline. */
  segments: (TranscriptSegment & { scriptStartMs: number; scriptEndMs: number })[];
  /** Captions the room received (sender identity and text). */
  captions: { senderIdentity: string; text: string }[];
  /** Spread of the bots' playback starts: their tracks are aligned within this. */
  startSpreadMs: number;
  workerLogs: string[];
}

/** Plays the meeting once and tears everything it started down again. */
export async function playMeetingLive(o: LiveMeetingOptions): Promise<LiveMeetingResult> {
  const { services, script } = o;
  const room = `${script.name}-${randomUUID().slice(0, 8)}`;
  const meetingId = `${script.name}-${randomUUID().slice(0, 8)}`;
  let speakers: SpeakerBot[] = [];
  let worker: AgentWorker | undefined;
  let listener: ListenerBot | undefined;
  const probe = new QueueProbe(services);
  try {
    worker = await startAgentWorker(services, o.sttOrigin, o.sttEnv);
    ({ listener, speakers } = await joinMeetingBots(services, room, script.participants, { dir: o.meetingDir, durationMs: script.durationMs }));
    const l = listener;
    await dispatchAgent(services, room, worker.agentName, { meetingId, language: script.language });
    await waitForActiveAgent(probe, l);
    await sleep(1_000); // its subscriptions settle
    for (const s of speakers) void s.play();
    await Promise.all(speakers.map((s) => s.finished));
    // The last utterance's closing silence, then its transcription: wait until nothing new arrives.
    const drainUntil = Date.now() + (o.drainMs ?? 30_000);
    let count = -1;
    for (;;) {
      await sleep(2_000);
      const n = (await probe.segments(meetingId)).length;
      if ((n === count && n >= script.utterances.length) || Date.now() > drainUntil) break;
      count = n;
    }
    await requestStop(probe.redis, meetingId);
    await probe.waitFor('the meeting to end', () => probe.store.get(meetingId), (m) => m?.endedAt != null, 60_000);
    const meeting = await probe.store.get(meetingId);
    const zero = Date.parse(meeting?.startedAt ?? '');
    const starts = speakers.map((s) => s.startedAtMs ?? NaN);
    const origin = Math.min(...starts);
    const segments = (await probe.segments(meetingId)).map((s) => ({ ...s, scriptStartMs: zero + s.startMs - origin, scriptEndMs: zero + s.endMs - origin }));
    return {
      meetingId,
      segments,
      captions: l.captions.map((c) => ({ senderIdentity: c.senderIdentity, text: c.text })),
      startSpreadMs: Math.max(...starts) - origin,
      workerLogs: [...worker.logs],
    };
  } finally {
    await Promise.all([...speakers, listener].map((b) => b?.disconnect().catch(() => undefined)));
    await worker?.stop();
    await probe.close();
  }
}
