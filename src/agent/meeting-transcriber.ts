/**
 * The agent's work in one room: subscribe to every human's microphone (present and future, each
 * separately), cut utterances, hand them to the processor, tell the room, honour opt-outs, and
 * end the meeting once: when asked, when the last human left, at the maximum duration, or when the
 * agent was removed from the room.
 *
 * It takes an already connected Room so that the worker (one room per job process) and the
 * benchmark (many rooms in one process) run the same code.
 */
import { AGENT_ATTR, PARTICIPANT_ATTR, TOPIC } from '../meeting/livekit-contract.js';
import {
  DisconnectReason,
  ParticipantKind,
  RoomEvent,
  TrackKind,
  TrackSource,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  type Room,
} from '@livekit/rtc-node';
import type { Logger } from '../logging.js';
import type { EndReason, MeetingEvent } from '../meeting/meeting-events.js';
import type { IgnoredAddressReason, MeetingParticipant, MeetingStore } from '../meeting/meeting-store.js';
import type { MeetingQueues } from '../pipelines/queues/producers.js';
import { segmentId, type ParticipantRef } from '../meeting/segment.js';
import { announcementFor } from './announcement-texts.js';
import { judgeAddress, type MetadataPermission } from './recipient-trust.js';
import type { SequenceCounter } from './sequence-counter.js';
import type { SpeechModel } from './silero-vad.js';
import { CAPTURE_SAMPLE_RATE, TrackCapture, type TimedUtterance } from './track-capture.js';
import type { CaptionTarget } from './captions.js';
import { InterimCaptions, type InterimHandover, type InterimStats } from './interim-captions.js';
import { InterimPolicy, type InterimPolicyOptions } from './interim-policy.js';
import type { LiveSpeechToText, UtteranceProcessor } from './utterance-processor.js';
import { SENTENCE_AFTER_MS } from './utterance-segmenter.js';

/** Interim captions of utterances in progress (INTERIM_CAPTIONS; see interim-captions.ts). */
export interface InterimCaptionOptions {
  stt: LiveSpeechToText;
  prompt?: string;
  /** Publishes an interim caption (`sendCaption(room, target, text, false)`). */
  send: (target: CaptionTarget, text: string) => Promise<void>;
  policy?: InterimPolicyOptions;
  /** Each interim caption published: its segment, when it was asked (performance.now()) and where its audio ends (meeting ms). */
  onShown?: (shown: { segmentId: string; identity: string; requestedAt: number; endMs: number }) => void;
}


export type TranscriptionState = 'active' | 'paused' | 'ending';

export interface MeetingTranscriberOptions {
  room: Room;
  meetingId: string;
  language: string;
  /** performance.now() of the meeting clock's zero, and its wall-clock time. */
  clockZero: { perf: number; wallMs: number };
  vad: SpeechModel;
  processor: UtteranceProcessor;
  sequences: SequenceCounter;
  store: MeetingStore;
  queues: Pick<MeetingQueues, 'endMeeting'>;
  maxUtteranceMs: number;
  /**
   * End an utterance at a sentence pause once it holds `SENTENCE_AFTER_MS` of speech, so captions
   * follow a fluent speaker sentence by sentence (CAPTION_SENTENCE_PAUSES, true by default; unset
   * here: only at Silero's end of speech and a monologue's pauses, see utterance-segmenter.ts).
   */
  sentencePauses?: boolean;
  /** Interim captions (INTERIM_CAPTIONS, off by default): unset, finals only. */
  interim?: InterimCaptionOptions;
  /** The agent leaves at this meeting-clock time. */
  maxMeetingMs: number;
  /** After the last human left, wait this long (a reconnect) before ending. */
  emptyGraceMs?: number;
  /** With no human at all since the agent joined, end after this long. */
  noHumanTimeoutMs?: number;
  /** How long to wait for speech-to-text of the last utterances before spooling them. */
  drainMs?: number;
  /** Whether a participant may rewrite its own attributes (LiveKit's server API): see recipient-trust.ts. */
  mayRewriteAttributes: MetadataPermission;
  /** RECIPIENT_SIGNING_KEY: checks `email.sig`; unset, only addresses of locked participants are trusted. */
  recipientSigningKey: string | undefined;
  logger: Logger;
  /** Called once the meeting has ended and everything is queued (the job disconnects then). */
  onEnded?: (reason: EndReason) => void;
}

/** Humans (and phone/ingress callers) are transcribed; other agents and recorders are not. */
export function isTranscribable(p: Participant): boolean {
  return p.kind === ParticipantKind.STANDARD || p.kind === ParticipantKind.SIP || p.kind === ParticipantKind.INGRESS;
}

function isMicrophone(pub: RemoteTrackPublication): boolean {
  return pub.kind === TrackKind.KIND_AUDIO && pub.source !== TrackSource.SOURCE_SCREENSHARE_AUDIO;
}

const optedOut = (p: Participant) => (p.attributes[PARTICIPANT_ATTR.optOut] ?? '').toLowerCase() === 'true';

export class MeetingTranscriber {
  readonly #o: MeetingTranscriberOptions;
  readonly #log: Logger;
  /** Key: track sid. */
  readonly #captures = new Map<string, { capture: TrackCapture; identity: string }>();
  readonly #optedOut = new Set<string>();
  /** Per identity: the trusted address (null: none) and the untrusted values ignored so far. */
  readonly #addresses = new Map<string, { email: string | null; ignored: IgnoredAddressReason[] }>();
  /** Captures stopped (opt-out, departure, track gone) whose VAD is still catching up. */
  readonly #stopping = new Set<Promise<void>>();
  #humansSeen = false;
  #emptyTimer: NodeJS.Timeout | undefined;
  #maxTimer: NodeJS.Timeout | undefined;
  #ending: Promise<void> | null = null;
  #endReason: EndReason | null = null;
  /** Serialises store writes per participant so events keep their order. */
  #storeChain: Promise<void> = Promise.resolve();
  readonly #handlers: [RoomEvent, (...args: never[]) => void][] = [];
  /** Every capture's interim captioner, for the counts (kept after the capture stops). */
  readonly #interims: InterimCaptions[] = [];

  constructor(options: MeetingTranscriberOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  /** Milliseconds since the meeting started. */
  meetingClock = (): number => performance.now() - this.#o.clockZero.perf;

  get ended(): Promise<void> | null {
    return this.#ending;
  }

  get endReason(): EndReason | null {
    return this.#endReason;
  }

  get activeCaptures(): number {
    return this.#captures.size;
  }

  /** Interim captions so far, all microphones (speech-to-text calls and seconds they cost). */
  get interimStats(): InterimStats {
    const sum: InterimStats = { calls: 0, seconds: 0, shown: 0, droppedInFlight: 0, droppedBusy: 0, stale: 0, failed: 0 };
    for (const i of this.#interims) for (const k of Object.keys(sum) as (keyof InterimStats)[]) sum[k] += i.stats[k];
    return sum;
  }

  /** The largest backlog, in ms of audio, between what a microphone delivered and what the VAD analysed. */
  get vadBacklogMs(): number {
    let max = 0;
    for (const { capture } of this.#captures.values()) max = Math.max(max, capture.samplesReceived - capture.samplesAnalysed);
    return (max * 1000) / CAPTURE_SAMPLE_RATE;
  }

  /** Starts on a connected room: announce, subscribe to everyone present, watch for changes. */
  async start(): Promise<void> {
    const { room } = this.#o;
    this.#on(RoomEvent.ParticipantConnected, (p: RemoteParticipant) => this.#participantJoined(p));
    this.#on(RoomEvent.ParticipantDisconnected, (p: RemoteParticipant) => this.#participantLeft(p));
    this.#on(RoomEvent.TrackPublished, (pub: RemoteTrackPublication, p: RemoteParticipant) => this.#maybeSubscribe(pub, p));
    this.#on(RoomEvent.TrackSubscribed, (track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant) =>
      this.#startCapture(track, pub, p),
    );
    this.#on(RoomEvent.TrackUnsubscribed, (_t: RemoteTrack, pub: RemoteTrackPublication) => void this.#stopCapture(pub.sid));
    this.#on(RoomEvent.TrackUnpublished, (pub: RemoteTrackPublication) => void this.#stopCapture(pub.sid));
    this.#on(RoomEvent.ParticipantAttributesChanged, (changed: Record<string, string>, p: Participant) => {
      if (p === room.localParticipant) return;
      if (PARTICIPANT_ATTR.optOut in changed) this.#optOutChanged(p as RemoteParticipant);
      if (PARTICIPANT_ATTR.email in changed || PARTICIPANT_ATTR.emailSignature in changed) this.#addressChanged(p as RemoteParticipant);
    });
    this.#on(RoomEvent.Disconnected, (reason: DisconnectReason) => {
      // Removed by the host or the control plane, or the room was closed.
      void this.end(this.#disconnectReason(reason));
    });

    // Everyone present is recorded, and their addresses judged as first seen, before the state says
    // "active": whoever reads that state (a participant, the backend) may count on a later change of
    // attributes being seen as a change. Scanning after the announcement's await let such a change
    // arrive first, and the scan then judged the changed value as a first sight.
    const present = [...room.remoteParticipants.values()];
    for (const p of present) this.#participantJoined(p, false);
    await this.#setState('active');
    await room.localParticipant
      ?.sendText(announcementFor(this.#o.language), { topic: TOPIC.chat })
      .catch((e: unknown) => this.#log.warn({ err: e }, 'announcement not sent'));

    // Microphones only once the room has been told.
    for (const p of present) if (room.remoteParticipants.get(p.identity) === p) this.#subscribeMicrophones(p);
    this.#checkEmpty();

    const remaining = this.#o.maxMeetingMs - this.meetingClock();
    this.#maxTimer = setTimeout(() => void this.end('max_duration'), Math.max(0, remaining));
    this.#maxTimer.unref?.();
    this.#log.info({ meetingId: this.#o.meetingId, participants: room.remoteParticipants.size }, 'transcribing');
  }

  /**
   * Ends the meeting once (later calls get the same promise): state "ending", the utterances in
   * progress are cut and transcribed (or spooled), then the meeting is marked ended for the
   * minutes pipeline.
   */
  end(reason: EndReason): Promise<void> {
    if (this.#ending) return this.#ending;
    this.#endReason = reason;
    this.#ending = this.#finish(reason);
    return this.#ending;
  }

  async #finish(reason: EndReason): Promise<void> {
    const { room, meetingId } = this.#o;
    this.#log.info({ meetingId, reason }, 'ending the meeting');
    clearTimeout(this.#maxTimer);
    clearTimeout(this.#emptyTimer);
    for (const [event, handler] of this.#handlers) room.off(event, handler as never);
    if (room.isConnected) await this.#setState('ending');
    await Promise.all([...this.#captures.keys()].map((sid) => this.#stopCapture(sid)));
    await Promise.all([...this.#stopping]);
    await this.settled();
    await this.#o.processor.drain(this.#o.drainMs ?? 20_000);
    await this.#storeChain;
    const counts = await this.#o.sequences.counts();
    await this.#o.queues.endMeeting(this.#o.store, meetingId, reason, counts);
    const interim = this.#o.interim ? { interim: this.interimStats } : {};
    this.#log.info({ meetingId, reason, ...this.#o.processor.stats, ...interim }, 'meeting ended');
    this.#o.onEnded?.(reason);
  }

  /**
   * The end reason when the job is shut down from outside (LiveKit terminates the job, the worker
   * stops): the last human's departure if that is what happened (LiveKit closes an empty room and
   * terminates its job, which may arrive before the room's own disconnect), else `agent_left`.
   */
  shutdownReason(): EndReason {
    return this.#endReason ?? (this.#humansSeen && this.#humansPresent() === 0 ? 'last_participant_left' : 'agent_left');
  }

  /** Why the room let the agent go, as the meeting's end reason. */
  #disconnectReason(reason: DisconnectReason): EndReason {
    if (reason === DisconnectReason.PARTICIPANT_REMOVED) return 'host_stop';
    // LiveKit closes a room once its last human left (departure timeout), maybe before our grace.
    if (this.#humansSeen && this.#humansPresent() === 0) return 'last_participant_left';
    if (reason === DisconnectReason.ROOM_DELETED || reason === DisconnectReason.ROOM_CLOSED) return 'room_finished';
    return 'agent_left';
  }

  #on<A extends unknown[]>(event: RoomEvent, handler: (...args: A) => void): void {
    const safe = (...args: A) => {
      try {
        handler(...args);
      } catch (e) {
        this.#log.error({ err: e, event }, 'room event handler failed');
      }
    };
    this.#o.room.on(event, safe as never);
    this.#handlers.push([event, safe as never]);
  }

  async #setState(state: TranscriptionState): Promise<void> {
    try {
      await this.#o.room.localParticipant?.setAttributes({
        [AGENT_ATTR.state]: state,
        [AGENT_ATTR.language]: this.#o.language,
        [AGENT_ATTR.meetingId]: this.#o.meetingId,
      });
    } catch (e) {
      this.#log.warn({ err: e, state }, 'could not set the agent attributes');
    }
  }

  #ref(p: Participant): ParticipantRef {
    return { identity: p.identity, name: p.name || p.identity };
  }

  #record(write: () => Promise<void>): void {
    this.#storeChain = this.#storeChain.then(write).catch((e: unknown) => this.#log.warn({ err: e }, 'meeting store write failed'));
  }

  #event(type: MeetingEvent['type'], p: Participant): void {
    const event: MeetingEvent = { type, participant: this.#ref(p), atMs: Math.max(0, Math.round(this.meetingClock())) };
    this.#record(() => this.#o.store.addEvent(this.#o.meetingId, event));
  }

  /**
   * Stores the participant. `judge`: whether its `email` attribute is to be judged now, and how
   * (`first`: first sight, the server API may vouch for it; `change`: it changed, only a signature
   * does). The attributes are read now, before any await, so the value judged is the value seen.
   */
  #saveParticipant(p: Participant, judge: 'first' | 'change' | null): void {
    const attributes = { ...p.attributes };
    const ref = this.#ref(p);
    const out = optedOut(p);
    this.#record(async () => {
      const known = this.#addresses.get(ref.identity) ?? { email: null, ignored: [] };
      if (judge) {
        const verdict = await judgeAddress({
          identity: ref.identity,
          attributes,
          firstSight: judge === 'first',
          signingKey: this.#o.recipientSigningKey,
          mayRewrite: this.#o.mayRewriteAttributes,
        });
        if (verdict?.trusted) known.email = verdict.email;
        else if (verdict) {
          // A value not trusted never replaces one that was; its reason is counted, the value forgotten.
          known.ignored.push(verdict.reason);
          this.#log.warn({ reason: verdict.reason }, 'participant address ignored: not vouched for by the backend');
        } else if (judge === 'change') known.email = null; // the attribute was removed
      }
      this.#addresses.set(ref.identity, known);
      const participant: MeetingParticipant = { ...ref, email: known.email, optedOut: out, ignoredAddresses: [...known.ignored] };
      await this.#o.store.upsertParticipant(this.#o.meetingId, participant);
    });
  }

  #addressChanged(p: RemoteParticipant): void {
    if (this.#ending || !isTranscribable(p)) return;
    this.#saveParticipant(p, 'change');
  }

  /** A participant seen for the first time: stored, its address judged, its opt-out noted; `subscribe`: its microphones now. */
  #participantJoined(p: RemoteParticipant, subscribe = true): void {
    if (this.#ending || !isTranscribable(p)) return;
    this.#humansSeen = true;
    clearTimeout(this.#emptyTimer);
    this.#emptyTimer = undefined;
    this.#saveParticipant(p, 'first');
    this.#event('participant_joined', p);
    if (optedOut(p)) {
      this.#optedOut.add(p.identity);
      this.#event('opted_out', p);
    }
    if (subscribe) this.#subscribeMicrophones(p);
  }

  #subscribeMicrophones(p: RemoteParticipant): void {
    if (this.#ending || !isTranscribable(p)) return;
    for (const pub of p.trackPublications.values()) this.#maybeSubscribe(pub as RemoteTrackPublication, p);
  }

  #participantLeft(p: RemoteParticipant): void {
    if (this.#ending || !isTranscribable(p)) return;
    for (const [sid, c] of this.#captures) if (c.identity === p.identity) void this.#stopCapture(sid);
    this.#event('participant_left', p);
    this.#checkEmpty();
  }

  #humansPresent(): number {
    let n = 0;
    for (const p of this.#o.room.remoteParticipants.values()) if (isTranscribable(p)) n++;
    return n;
  }

  #checkEmpty(): void {
    if (this.#ending || this.#humansPresent() > 0 || this.#emptyTimer) return;
    const wait = this.#humansSeen ? (this.#o.emptyGraceMs ?? 10_000) : (this.#o.noHumanTimeoutMs ?? 120_000);
    this.#emptyTimer = setTimeout(() => {
      this.#emptyTimer = undefined;
      if (this.#humansPresent() === 0) void this.end('last_participant_left');
    }, wait);
  }

  #optOutChanged(p: RemoteParticipant): void {
    if (this.#ending || !isTranscribable(p)) return;
    const out = optedOut(p);
    if (out === this.#optedOut.has(p.identity)) return;
    this.#saveParticipant(p, null);
    this.#event(out ? 'opted_out' : 'opted_in', p);
    if (out) {
      this.#optedOut.add(p.identity);
      this.#log.info({ participants: 1 }, 'a participant opted out');
      for (const [sid, c] of this.#captures) if (c.identity === p.identity) void this.#stopCapture(sid);
      for (const pub of p.trackPublications.values()) if (pub.subscribed) (pub as RemoteTrackPublication).setSubscribed(false);
    } else {
      this.#optedOut.delete(p.identity);
      for (const pub of p.trackPublications.values()) this.#maybeSubscribe(pub as RemoteTrackPublication, p);
    }
  }

  #maybeSubscribe(pub: RemoteTrackPublication, p: RemoteParticipant): void {
    if (this.#ending || !isTranscribable(p) || !isMicrophone(pub) || this.#optedOut.has(p.identity)) return;
    if (pub.track && pub.sid && !this.#captures.has(pub.sid)) {
      this.#startCapture(pub.track, pub, p);
      return;
    }
    if (!pub.subscribed) pub.setSubscribed(true);
  }

  #startCapture(track: RemoteTrack, pub: RemoteTrackPublication, p: RemoteParticipant): void {
    const sid = pub.sid;
    if (this.#ending || !sid || this.#captures.has(sid) || !isMicrophone(pub) || !isTranscribable(p) || this.#optedOut.has(p.identity)) return;
    const participant = this.#ref(p);
    const interim = this.#interimCaptions(participant, sid);
    const capture = new TrackCapture({
      track,
      vad: this.#o.vad,
      segmenter: { maxUtteranceMs: this.#o.maxUtteranceMs, sentenceAfterMs: this.#o.sentencePauses ? SENTENCE_AFTER_MS : Infinity },
      meetingClock: this.meetingClock,
      logger: this.#log,
      onUtterance: (u) => this.#utterance(u, participant, sid, interim?.cut()),
      ...(interim ? { onProgress: interim.onProgress } : {}),
    });
    this.#captures.set(sid, { capture, identity: p.identity });
    this.#log.debug({ trackSid: sid }, 'capturing a microphone');
  }

  /**
   * Stops a capture; what it received before is still cut and transcribed (see TrackCapture.stop).
   * The meeting's end waits for every capture still stopping, so its last utterance is counted.
   */
  async #stopCapture(sid: string | undefined): Promise<void> {
    if (!sid) return;
    const c = this.#captures.get(sid);
    if (!c) return;
    this.#captures.delete(sid);
    const stopping = c.capture.stop();
    this.#stopping.add(stopping);
    try {
      await stopping;
    } finally {
      this.#stopping.delete(stopping);
    }
  }

  /**
   * One microphone's interim captions (null when off): the policy reads every window, the captioner
   * sends, and `cut()` hands the utterance's reserved id and published interims to its final.
   */
  #interimCaptions(participant: ParticipantRef, trackSid: string): {
    onProgress: NonNullable<ConstructorParameters<typeof TrackCapture>[0]['onProgress']>;
    cut: () => InterimHandover;
  } | null {
    const o = this.#o.interim;
    if (!o) return null;
    const policy = new InterimPolicy({ sampleRate: CAPTURE_SAMPLE_RATE, ...o.policy });
    let toMeetingMs: (sample: number) => number = () => 0;
    const captions = new InterimCaptions({
      stt: o.stt,
      language: this.#o.language,
      ...(o.prompt ? { prompt: o.prompt } : {}),
      sampleRate: CAPTURE_SAMPLE_RATE,
      reserve: () => this.#number(participant),
      send: (id, text) => o.send({ participant, trackSid, segmentId: id }, text),
      logger: this.#log,
      onShown: (s) => o.onShown?.({ segmentId: s.segmentId, identity: participant.identity, requestedAt: s.requestedAt, endMs: toMeetingMs(s.endSample) }),
    });
    this.#interims.push(captions);
    return {
      onProgress: (inProgress, audio, meetingMs) => {
        toMeetingMs = meetingMs;
        const point = policy.observe(inProgress);
        if (point) captions.request(point, audio);
      },
      cut: () => captions.cut(),
    };
  }

  /**
   * The speaker's next sequence number and segment id, from Redis (shared with any earlier agent of
   * this meeting). Calls on one connection are answered in order, so a speaker's utterances keep
   * their order, an interim's reservation included (made while its utterance is spoken, after the
   * previous one was cut).
   */
  #number(participant: ParticipantRef): Promise<{ sequence: number; segmentId: string }> {
    return this.#o.sequences.next(participant.identity).then((sequence) => ({ sequence, segmentId: segmentId(participant.identity, sequence) }));
  }

  /** Called synchronously by the segmenter: the audio is already a private copy. */
  #utterance(u: TimedUtterance, participant: ParticipantRef, trackSid: string, interim: InterimHandover | undefined): void {
    const cutAt = performance.now();
    const startedAt = new Date(this.#o.clockZero.wallMs + u.startMs).toISOString();
    const audio = { samples: u.audio, sampleRate: CAPTURE_SAMPLE_RATE, channels: 1 };
    // An interim of this utterance already reserved its number: the final takes the same id (or, if
    // that reservation failed, a number of its own, as without interims).
    const numbered = interim?.reserved ? interim.reserved.catch(() => this.#number(participant)) : this.#number(participant);
    const submitted = numbered.then(({ sequence, segmentId: id }) => {
      this.#o.processor.submit({
        participant,
        trackSid,
        sequence,
        segmentId: id,
        startMs: u.startMs,
        endMs: Math.max(u.startMs, u.endMs),
        startedAt,
        audio,
        cutAt,
        ...(interim ? { interimShown: interim.shown } : {}),
      });
    });
    this.#pending.add(submitted);
    submitted
      .catch((e: unknown) => this.#log.error({ err: e }, 'could not number an utterance: it is lost'))
      .finally(() => this.#pending.delete(submitted));
  }

  readonly #pending = new Set<Promise<void>>();

  /** Utterances cut but not yet handed to the processor (waiting for their sequence number). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
