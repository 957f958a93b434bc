/**
 * Bots that take part in a real LiveKit room, for tests, benchmarks and the demo:
 *  - a speaker publishes a microphone track playing an audio file in real time, and can unpublish,
 *    republish, change its attributes and leave;
 *  - a listener records the captions (`lk.transcription` text streams) and chat messages it
 *    receives, and can record another participant's audio.
 * They use the same SDK (@livekit/rtc-node) as any server-side participant.
 */
import { TOPIC } from '../meeting/livekit-contract.js';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  type LocalTrackPublication,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
} from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { decodeToPcm, type PcmAudio } from '../pipelines/audio/ffmpeg.js';

export const BOT_SAMPLE_RATE = 48_000;
const FRAME_MS = 10;

export type BotAuth = { token: string } | { apiKey: string; apiSecret: string };

export interface BotJoinOptions {
  url: string;
  room: string;
  identity: string;
  name?: string;
  /** Attributes carried by the token (e.g. email, transcription.optout). */
  attributes?: Record<string, string>;
  /** Whether the token lets the bot rewrite its own attributes (default true, as the opt-out needs). */
  canUpdateOwnMetadata?: boolean;
  auth: BotAuth;
}

export async function botToken(o: BotJoinOptions): Promise<string> {
  if ('token' in o.auth) return o.auth.token;
  const at = new AccessToken(o.auth.apiKey, o.auth.apiSecret, {
    identity: o.identity,
    name: o.name ?? o.identity,
    ttl: '2h',
    ...(o.attributes ? { attributes: o.attributes } : {}),
  });
  at.addGrant({ roomJoin: true, room: o.room, canPublish: true, canSubscribe: true, canPublishData: true, canUpdateOwnMetadata: o.canUpdateOwnMetadata ?? true });
  return at.toJwt();
}

async function connect(o: BotJoinOptions, autoSubscribe: boolean): Promise<Room> {
  const room = new Room();
  // A speaker bot does not read the captions and notices the agent sends to everyone; it takes them
  // anyway, or rtc-node logs every one it ignores at debug level (thousands of lines in a CI log).
  for (const topic of [TOPIC.captions, TOPIC.chat]) room.registerTextStreamHandler(topic, (reader) => void reader.readAll().catch(() => undefined));
  await room.connect(o.url, await botToken(o), { autoSubscribe, dynacast: false });
  return room;
}

export interface SpeakerOptions extends BotJoinOptions {
  /** Any file ffmpeg reads; decoded to 48 kHz mono. Or already decoded audio. */
  file?: string;
  audio?: PcmAudio;
  /** Play from this position of the file, for this long (default: to the end). */
  offsetMs?: number;
  durationMs?: number;
  /** Wall-clock time (Date.now()) to start playing at, so several bots start together. Default: at once. */
  startAtMs?: number;
  /** Join and publish, but wait for play() (default: play at once). */
  autoplay?: boolean;
}

export interface SpeakerBot {
  readonly room: Room;
  readonly identity: string;
  /** Sid of the microphone publication (changes on republish), null while unpublished. */
  readonly trackSid: string | null;
  /** Date.now() when the first sample was handed to LiveKit (null before). */
  readonly startedAtMs: number | null;
  /** Starts playing (if not auto); resolves when everything was played out. */
  play(): Promise<void>;
  /** Resolves when the file was played to the end (and played out). */
  readonly finished: Promise<void>;
  /** Unpublishes the microphone; the file keeps playing "in the void" (what a dropped publisher says is lost). */
  unpublish(): Promise<void>;
  republish(): Promise<void>;
  setAttributes(attributes: Record<string, string>): Promise<void>;
  disconnect(): Promise<void>;
}

export async function joinAsSpeaker(o: SpeakerOptions): Promise<SpeakerBot> {
  const audio =
    o.audio ??
    (await decodeToPcm(o.file ?? fail('joinAsSpeaker needs file or audio'), {
      sampleRate: BOT_SAMPLE_RATE,
      channels: 1,
      ...(o.offsetMs !== undefined ? { startMs: o.offsetMs } : {}),
      ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
    }));
  if (audio.channels !== 1) throw new Error('joinAsSpeaker plays mono audio');
  const room = await connect(o, false);
  const source = new AudioSource(audio.sampleRate, 1);
  let publication: LocalTrackPublication | null = null;
  let published = false;
  let startedAtMs: number | null = null;
  let closed = false;

  const publish = async () => {
    const track = LocalAudioTrack.createAudioTrack('microphone', source);
    publication = await room.localParticipant!.publishTrack(track, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));
    published = true;
  };
  await publish();

  let resolveStart: () => void = () => undefined;
  const started = new Promise<void>((r) => (resolveStart = r));
  const finished = (async () => {
    await started;
    if (o.startAtMs !== undefined) await sleep(o.startAtMs - Date.now());
    const perFrame = (audio.sampleRate * FRAME_MS) / 1000;
    const t0 = performance.now();
    startedAtMs = Date.now();
    for (let i = 0; i < audio.samples.length && !closed; i += perFrame) {
      const n = Math.min(perFrame, audio.samples.length - i);
      const frame = new AudioFrame(audio.samples.slice(i, i + n), audio.sampleRate, 1, n);
      if (published) {
        await source.captureFrame(frame);
      } else {
        // Unpublished: keep the file's own clock, so a republished track resumes at the right place.
        const due = t0 + ((i + n) * 1000) / audio.sampleRate;
        await sleep(due - performance.now() - 200);
      }
    }
    if (!closed) await source.waitForPlayout();
  })();
  finished.catch(() => undefined);
  if (o.autoplay ?? true) resolveStart();

  return {
    room,
    identity: o.identity,
    get trackSid() {
      return published ? (publication?.sid ?? null) : null;
    },
    get startedAtMs() {
      return startedAtMs;
    },
    finished,
    async play() {
      resolveStart();
      await finished;
    },
    async unpublish() {
      const sid = publication?.sid;
      published = false;
      if (sid) await room.localParticipant!.unpublishTrack(sid, false);
    },
    async republish() {
      if (!published) await publish();
    },
    async setAttributes(attributes) {
      await room.localParticipant!.setAttributes(attributes);
    },
    async disconnect() {
      closed = true;
      await room.disconnect();
      await source.close().catch(() => undefined);
    },
  };
}

export interface ReceivedText {
  topic: string;
  /** The identity the stream was sent on behalf of (for captions: the speaker). */
  senderIdentity: string;
  attributes: Record<string, string>;
  text: string;
  /** Date.now() when the stream was complete. */
  receivedAtMs: number;
}

export interface ListenerBot {
  readonly room: Room;
  readonly captions: readonly ReceivedText[];
  readonly chat: readonly ReceivedText[];
  /** Resolves once `predicate` holds for the captions received (checked on every new one). */
  waitForCaptions(predicate: (captions: readonly ReceivedText[]) => boolean, timeoutMs: number): Promise<readonly ReceivedText[]>;
  /** Records a participant's microphone at 16 kHz mono until stop() (waits for the track). */
  recordAudio(identity: string, sampleRate?: number): { stop(): Promise<Int16Array>; firstFrameAtMs(): number | null };
  disconnect(): Promise<void>;
}

export async function joinAsListener(o: BotJoinOptions): Promise<ListenerBot> {
  const room = new Room();
  const captions: ReceivedText[] = [];
  const chat: ReceivedText[] = [];
  const waiters = new Set<() => void>();
  const handler = (into: ReceivedText[]) => (reader: { info: { topic: string; attributes?: Record<string, string> }; readAll(): Promise<string> }, from: { identity: string }) => {
    void reader.readAll().then((text) => {
      into.push({ topic: reader.info.topic, senderIdentity: from.identity, attributes: { ...(reader.info.attributes ?? {}) }, text, receivedAtMs: Date.now() });
      for (const w of waiters) w();
    });
  };
  room.registerTextStreamHandler(TOPIC.captions, handler(captions));
  room.registerTextStreamHandler(TOPIC.chat, handler(chat));
  await room.connect(o.url, await botToken(o), { autoSubscribe: false, dynacast: false });

  return {
    room,
    captions,
    chat,
    waitForCaptions(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(captions)) {
            cleanup();
            resolve(captions);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms with ${captions.length} captions`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    recordAudio(identity, sampleRate = 16_000) {
      const chunks: Int16Array[] = [];
      let firstFrameAt: number | null = null;
      let stream: AudioStream | null = null;
      let streamReader: { cancel(): Promise<void> } | null = null;
      let stopped = false;
      const read = async (track: RemoteTrack) => {
        if (stream || stopped) return;
        stream = new AudioStream(track, { sampleRate, numChannels: 1 });
        const reader = stream.getReader();
        streamReader = reader;
        for (;;) {
          const { done, value } = await reader.read();
          if (done || stopped) break;
          firstFrameAt ??= Date.now();
          chunks.push(value.data.slice(0, value.samplesPerChannel));
        }
      };
      let reading: Promise<void> = Promise.resolve();
      const onSubscribed = (track: RemoteTrack, _pub: RemoteTrackPublication, p: RemoteParticipant) => {
        if (p.identity === identity && track.kind === TrackKind.KIND_AUDIO) reading = read(track);
      };
      const subscribe = (p: RemoteParticipant) => {
        for (const pub of p.trackPublications.values()) if (pub.kind === TrackKind.KIND_AUDIO) (pub as RemoteTrackPublication).setSubscribed(true);
      };
      const onPublished = (pub: RemoteTrackPublication, p: RemoteParticipant) => {
        if (p.identity === identity && pub.kind === TrackKind.KIND_AUDIO) pub.setSubscribed(true);
      };
      room.on(RoomEvent.TrackSubscribed, onSubscribed);
      room.on(RoomEvent.TrackPublished, onPublished);
      const present = room.remoteParticipants.get(identity);
      if (present) subscribe(present);
      return {
        firstFrameAtMs: () => firstFrameAt,
        async stop() {
          stopped = true;
          room.off(RoomEvent.TrackSubscribed, onSubscribed);
          room.off(RoomEvent.TrackPublished, onPublished);
          await (streamReader as { cancel(): Promise<void> } | null)?.cancel().catch(() => undefined);
          await reading.catch(() => undefined);
          const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
          let at = 0;
          for (const c of chunks) {
            out.set(c, at);
            at += c.length;
          }
          return out;
        },
      };
    },
    async disconnect() {
      await room.disconnect();
    },
  };
}

/** Waits `ms` (nothing for a due time already past: Node warns on negative timeouts). */
function sleep(ms: number): Promise<void> {
  return ms > 0 ? delay(ms) : Promise.resolve();
}

function fail(message: string): never {
  throw new Error(message);
}
