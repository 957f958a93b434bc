/**
 * `meeting-agent transcribe`: a recording goes the way of a live meeting.
 *
 *   meeting-agent transcribe <file> [options]                   one mixed recording
 *   meeting-agent transcribe --speaker "Alice Martin=alice.ogg" --speaker "Bruno=bruno.ogg@12.5" ...
 *                                                               one file per participant (LiveKit
 *                                                               track egress), "@seconds" = where the
 *                                                               file starts on the meeting's clock
 *
 * What this command decides is only how the audio is cut and who speaks:
 *  - every file is checked first (not found, empty, not audio, no audio track, cut short, no
 *    samples: one message, exit 3), before any meeting state is written or anything is sent;
 *  - each track is cut by the live agent's own Silero gate and segmenter (recording-cutter.ts), so
 *    only speech is uploaded; one upload per utterance, as live, except for a mixed recording with
 *    a provider that diarizes (STT_PROVIDER=mistral), whose utterances are sent in pieces of up to
 *    --max-piece-seconds so that its speaker labels mean something (they are scoped to their piece);
 *  - a per-speaker file's utterances are that speaker's, on one clock with the others.
 * Then the segments are stored by the segment worker's function, and finalisation, storage and
 * email are the `pipeline` role's own functions, run in this process (queues/inline-pipeline.ts):
 * the transcript reaches --out (and S3 when configured) before the minutes are attempted, every
 * recipient is handled on their own.
 *
 * State: with REDIS_URL the meeting lives in Redis like a live one (readable, erasable with
 * `meeting-agent delete`, every key with a TTL of RETENTION_DAYS; a failed run can be resumed with
 * the same --meeting-id: utterances already transcribed are not sent again). Without it, in this
 * process only. S3 is used when S3_BUCKET is set; SMTP only with --email.
 *
 * Exit codes: 0 done; 2 bad arguments; 3 unusable input; 4 speech-to-text failed for part of the
 * recording (the rest is in --out); 5 the minutes failed (the transcript is in --out); 6 done but
 * some recipients were not reached; 78 configuration.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { SileroVad } from '../agent/silero-vad.js';
import { ConfigError, type Config } from '../config.js';
import { loadCheckedConfig } from '../pipelines/residency.js';
import { MemoryMeetingStore, MemorySentMarkers } from '../meeting/memory-meeting-store.js';
import { MeetingStore, type MeetingStateStore } from '../meeting/meeting-store.js';
import { createMailer, SentMarkers } from '../pipelines/email/mailer.js';
import { createMistralChat, mistralChatOptionsFrom, type MistralChatOptions } from '../pipelines/minutes/mistral-chat.js';
import { TokenEstimator } from '../pipelines/minutes/token-estimate.js';
import { storeTranscript } from '../pipelines/queues/finalize-worker.js';
import { finalizeInline, sendEmailsInline, type EmailRetry } from '../pipelines/queues/inline-pipeline.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { persistSegment } from '../pipelines/queues/segment-worker.js';
import { createSpeechToText } from '../pipelines/stt/index.js';
import type { SpeechToText } from '../pipelines/stt/types.js';
import { participantKey, segmentId, type ParticipantRef, type TranscriptSegment } from '../meeting/segment.js';
import { LocalArtifacts, MirroredArtifacts } from '../storage/local-artifacts.js';
import { MeetingArtifacts, type Manifest } from '../storage/meeting-artifacts.js';
import { createS3Client } from '../storage/s3-client.js';
import { cutTrack, type CutTrack, type RecordedUtterance } from './recording-cutter.js';
import { checkRecordingFile, UnusableRecordingError } from './recording-input.js';
import { MAX_RETRY_AFTER_MS, RetryGate, transcribePiece, type PieceResult, type WaitNotice } from './recording-stt.js';
import pMap from 'p-map';

/** An error of this command, with the exit code that tells a script what happened. */
export class TranscribeError extends Error {
  override readonly name = 'TranscribeError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const SpeakerSchema = z
  .string()
  .regex(/^[^=]+=.+$/, 'must be "Name=file" or "Name=file@seconds"')
  .transform((v) => {
    const eq = v.indexOf('=');
    const name = v.slice(0, eq).trim();
    const rest = v.slice(eq + 1);
    const at = /^(.*)@(\d+(?:\.\d+)?)$/.exec(rest);
    return { name, file: at ? (at[1] as string) : rest, offsetMs: at ? Math.round(Number(at[2]) * 1000) : 0 };
  })
  .refine((s) => s.name !== '' && s.name.length <= 256, 'the name must be 1-256 characters');

const ArgsSchema = z
  .object({
    file: z.string().min(1).optional(),
    speakers: z.array(SpeakerSchema).default([]),
    language: z.string().regex(/^[a-z]{2}$/, 'a two-letter ISO 639-1 code such as fr').optional(),
    out: z.string().min(1).optional(),
    email: z.array(z.email('must be an email address')).default([]),
    maxPieceSeconds: z.coerce.number().int().min(5).max(3600).optional(),
    meetingId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, '1-100 letters, digits, "-" or "_"').optional(),
  })
  .refine((a) => (a.file === undefined) !== (a.speakers.length === 0), { message: 'give one recording, or one --speaker per participant, not both', path: ['file'] });
export type TranscribeArgs = z.infer<typeof ArgsSchema>;

export const USAGE = [
  'Usage: meeting-agent transcribe <file> [options]',
  '       meeting-agent transcribe --speaker "Name=file[@seconds]" --speaker ... [options]',
  'Options: --language fr  --out DIR  --email a@b (repeatable)  --max-piece-seconds N  --meeting-id ID',
].join('\n');

export function parseTranscribeArgs(argv: string[]): TranscribeArgs {
  let parsedArgs;
  try {
    parsedArgs = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        speaker: { type: 'string', multiple: true },
        language: { type: 'string' },
        out: { type: 'string' },
        email: { type: 'string', multiple: true },
        'max-piece-seconds': { type: 'string' },
        'meeting-id': { type: 'string' },
      },
    });
  } catch (e) {
    throw new TranscribeError(`${(e as Error).message}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsedArgs;
  if (positionals.length > 1) throw new TranscribeError(`one recording at a time (got ${positionals.length}); for one file per participant use --speaker\n${USAGE}`, 2);
  const parsed = ArgsSchema.safeParse({
    file: positionals[0],
    speakers: values.speaker ?? [],
    language: values.language,
    out: values.out,
    email: values.email ?? [],
    maxPieceSeconds: values['max-piece-seconds'],
    meetingId: values['meeting-id'],
  });
  if (!parsed.success) {
    const flag = (p: PropertyKey[]) => (p[0] === 'file' ? '<file>' : p[0] === 'speakers' ? '--speaker' : `--${String(p[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new TranscribeError(`${parsed.error.issues.map((i) => `${flag(i.path)}: ${i.message}`).join('\n')}\n${USAGE}`, 2);
  }
  return parsed.data;
}

// ---- What the settings allow ----

/** The settings `transcribe` needs beyond STT and Mistral, checked against what the run uses. */
export function checkOptionalServices(args: TranscribeArgs, config: Config): void {
  const problems: string[] = [];
  if (args.email.length > 0) {
    if (!config.SMTP_URL) problems.push('--email needs SMTP_URL (the SMTP server the minutes are sent through). Example: SMTP_URL=smtp://user:password@smtp.example.fr:587');
    if (!config.MAIL_FROM) problems.push('--email needs MAIL_FROM (the sender of the minutes). Example: MAIL_FROM=no-reply@example.fr');
  }
  if (config.S3_BUCKET && !(config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY)) {
    problems.push('S3_BUCKET is set, so the artefacts are stored in S3, which needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or unset S3_BUCKET to keep them in --out only).');
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

// ---- Cutting and transcribing ----

export interface Track {
  file: string;
  /** The participant, for a per-speaker file; null for a mixed recording. */
  speaker: ParticipantRef | null;
  offsetMs: number;
  cut: CutTrack;
}

/** One upload: utterances of one track. */
export interface Piece {
  track: number;
  utterances: RecordedUtterance[];
}

/** Consecutive utterances whose span (first audio sample to last) stays within `maxMs`. */
export function packPieces(track: number, utterances: readonly RecordedUtterance[], maxMs: number): Piece[] {
  const pieces: Piece[] = [];
  for (const u of utterances) {
    const last = pieces.at(-1);
    const first = last?.utterances[0];
    const end = u.audioStartMs + (u.audio.length * 1000) / 16_000;
    if (last && first && end - first.audioStartMs <= maxMs) last.utterances.push(u);
    else pieces.push({ track, utterances: [u] });
  }
  return pieces;
}

function slug(name: string): string {
  const s = name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return s || 'speaker';
}

export interface RecogniseOptions {
  meetingId: string;
  language: string;
  /** Wall-clock time of the meeting clock's zero (ISO). */
  startedAt: string;
  stt: SpeechToText;
  /** A mixed recording sent in pieces to a provider that labels speakers. */
  diarize: boolean;
  concurrency: number;
  /** Segment ids already stored (a resumed run): their utterances are not sent again. */
  stored?: ReadonlySet<string>;
  onWait?: (notice: WaitNotice) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface Recognised {
  segments: TranscriptSegment[];
  /** Who speaks: the tracks' speakers, the mixed recording's one voice, or the piece-scoped labels. */
  participants: ParticipantRef[];
  /** Utterances per participant key, as the agent reports them at the end (MeetingInfo.segmentCounts). */
  counts: Record<string, number>;
  sentByTrack: Map<number, number>;
  requests: number;
  /** Pieces speech-to-text failed on for good, with why. */
  failures: { piece: Piece; error: Error }[];
}

/**
 * Speech-to-text for the pieces of the tracks, `concurrency` at a time, and the segments they make,
 * exactly as live: one segment per utterance (id from its track's speaker and its position), or, in
 * a diarized piece, one per recognised segment with the piece's own speaker labels (a provider's
 * labels only mean something inside one request: never merged across pieces by their string).
 */
export async function recognise(tracks: readonly Track[], pieces: readonly Piece[], o: RecogniseOptions): Promise<Recognised> {
  const en = o.language === 'en';
  const mixed: ParticipantRef = { identity: 'recording', name: en ? 'Recording' : 'Enregistrement' };
  const gate = new RetryGate(o.onWait ?? (() => undefined));
  let done = 0;
  const outcomes = await pMap(
    pieces,
    async (piece, index) => {
      const who = (tracks[piece.track] as Track).speaker ?? mixed;
      const todo = o.diarize ? piece.utterances : piece.utterances.filter((u) => !o.stored?.has(segmentId(who.identity, u.index)));
      try {
        const result = todo.length === 0 ? null : await transcribePiece(todo.map((u) => ({ audio: u.audio, startMs: u.audioStartMs })), { stt: o.stt, gate, language: o.language, diarize: o.diarize });
        o.onProgress?.(++done, pieces.length);
        return { ok: true as const, index, piece, result };
      } catch (e) {
        return { ok: false as const, index, piece, error: e as Error };
      }
    },
    { concurrency: o.concurrency },
  );

  const t0 = Date.parse(o.startedAt);
  const segmentOf = (who: ParticipantRef, sequence: number, startMs: number, endMs: number, text: string, r: PieceResult, filtered: PieceResult['filtered']): TranscriptSegment => ({
    meetingId: o.meetingId,
    segmentId: segmentId(who.identity, sequence),
    participant: who,
    sequence,
    trackSid: null,
    startMs,
    endMs,
    startedAt: new Date(t0 + startMs).toISOString(),
    text,
    language: r.language || o.language,
    confidence: r.confidence,
    provider: r.provider,
    model: r.model,
    filtered,
    deferred: false,
  });
  const out: Recognised = { segments: [], participants: [], counts: {}, sentByTrack: new Map(), requests: 0, failures: [] };
  const labelled = new Map<string, ParticipantRef>();
  const diarizedSeq = new Map<string, number>();
  const multiplePieces = pieces.length > 1;
  for (const r of outcomes) {
    if (!r.ok) {
      out.failures.push({ piece: r.piece, error: r.error });
      continue;
    }
    if (!r.result) continue;
    const result = r.result;
    out.sentByTrack.set(r.piece.track, (out.sentByTrack.get(r.piece.track) ?? 0) + result.sentMs);
    out.requests += result.requests;
    if (!o.diarize) {
      const u = r.piece.utterances[0] as RecordedUtterance;
      const text = result.segments.map((s) => s.text.trim()).filter((t) => t !== '').join(' ');
      out.segments.push(segmentOf((tracks[r.piece.track] as Track).speaker ?? mixed, u.index, u.startMs, u.endMs, text, result, result.filtered));
      continue;
    }
    for (const [i, s] of result.segments.entries()) {
      const label = s.speaker ?? '?';
      const key = multiplePieces ? `piece${r.index + 1}-${label}` : label;
      let who = labelled.get(key);
      if (!who) {
        const n = labelled.size + 1;
        who = { identity: `speaker-${slug(key)}`, name: `${en ? 'Speaker' : 'Intervenant'} ${n}${multiplePieces ? (en ? ` (part ${r.index + 1})` : ` (partie ${r.index + 1})`) : ''}` };
        labelled.set(key, who);
      }
      const seq = diarizedSeq.get(who.identity) ?? 0;
      diarizedSeq.set(who.identity, seq + 1);
      // What the hallucination filter dropped in the piece is counted once, on its first line.
      out.segments.push(segmentOf(who, seq, s.startMs, s.endMs, s.text.trim(), result, i === 0 ? result.filtered : []));
    }
    // A piece whose every line was dropped still counts its drops.
    if (result.segments.length === 0 && result.filtered.length > 0 && r.piece.utterances[0]) {
      const who = labelled.get('?') ?? { identity: 'speaker-unlabelled', name: en ? 'Speaker' : 'Intervenant' };
      labelled.set('?', who);
      const seq = diarizedSeq.get(who.identity) ?? 0;
      diarizedSeq.set(who.identity, seq + 1);
      const u = r.piece.utterances[0];
      out.segments.push(segmentOf(who, seq, u.startMs, u.endMs, '', result, result.filtered));
    }
  }
  if (o.diarize) {
    out.participants = [...labelled.values()];
    for (const [identity, n] of diarizedSeq) out.counts[participantKey(identity)] = n;
  } else {
    out.participants = tracks.some((t) => t.speaker) ? tracks.flatMap((t) => t.speaker ?? []) : tracks.some((t) => t.cut.utterances.length > 0) ? [mixed] : [];
    for (const t of tracks) if (t.cut.utterances.length > 0) out.counts[participantKey((t.speaker ?? mixed).identity)] = t.cut.utterances.length;
  }
  return out;
}

/**
 * One mixed recording, cut and recognised, without storing anything (no meeting state, no
 * artefacts): what the recording mode hands to finalisation. Throws an UnusableRecordingError for
 * an unusable file. `maxPieceMs` bounds each upload (an utterance, or a diarized piece).
 */
export async function transcribeRecording(
  file: string,
  o: { meetingId: string; language: string; stt: SpeechToText; maxPieceMs: number; startedAt: string; concurrency?: number },
): Promise<{ segments: TranscriptSegment[]; participants: ParticipantRef[]; pieces: Piece[]; track: CutTrack }> {
  const probe = await checkRecordingFile(file);
  const diarize = o.stt.provider === 'mistral';
  // Utterances as long as the live default (MAX_UTTERANCE_SECONDS: 30 s) at most.
  const cut = await cutTrack(file, probe, { vad: await SileroVad.load(), maxUtteranceMs: Math.min(o.maxPieceMs, 30_000) });
  const tracks: Track[] = [{ file, speaker: null, offsetMs: 0, cut }];
  const pieces = diarize ? packPieces(0, cut.utterances, o.maxPieceMs) : cut.utterances.map((u) => ({ track: 0, utterances: [u] }));
  const r = await recognise(tracks, pieces, { meetingId: o.meetingId, language: o.language, startedAt: o.startedAt, stt: o.stt, diarize, concurrency: o.concurrency ?? 4 });
  if (r.failures[0]) throw r.failures[0].error;
  return { segments: r.segments, participants: r.participants, pieces, track: cut };
}

// ---- The command ----

export interface TranscribeOverrides {
  stt?: SpeechToText;
  mistral?: Partial<MistralChatOptions>;
  /** Result lines (stdout). */
  log?: (line: string) => void;
  /** Progress and countdowns (stderr). */
  progress?: (line: string) => void;
  emailRetry?: EmailRetry;
}

export interface TranscribeResult {
  meetingId: string;
  outDir: string;
  recording: NonNullable<Manifest['recording']>;
  deliveries: { address: string; outcome: string; reply: string | null }[];
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A visible countdown while every request waits for the service (stderr; one line per 10 s when not a terminal). */
function countdown(notice: WaitNotice, write: (line: string) => void, tty: boolean): void {
  const why = notice.status ? `HTTP ${notice.status}` : 'asked to wait';
  const end = Date.now() + notice.waitMs;
  write(`Speech-to-text is busy (${why}) and asks to come back in ${Math.ceil(notice.waitMs / 1000)} s: waiting, nothing is lost.`);
  const tick = setInterval(
    () => {
      const left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(tick);
        write('Speech-to-text: resuming.');
      } else write(`Speech-to-text: resuming in ${left} s…`);
    },
    tty ? 1000 : 10_000,
  );
  tick.unref();
}

/** Runs the command; every failure is a TranscribeError with its exit code (ConfigError: 78). */
export async function runTranscribe(args: TranscribeArgs, config: Config, overrides: TranscribeOverrides = {}): Promise<TranscribeResult> {
  try {
    return await transcribe(args, config, overrides);
  } catch (e) {
    if (e instanceof UnusableRecordingError) throw new TranscribeError(e.message, 3);
    throw e;
  }
}

async function transcribe(args: TranscribeArgs, config: Config, overrides: TranscribeOverrides): Promise<TranscribeResult> {
  const say = overrides.log ?? ((line: string) => console.log(line));
  const tty = process.stderr.isTTY === true;
  const progress = overrides.progress ?? ((line: string) => process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`));
  checkOptionalServices(args, config);
  const language = args.language ?? config.STT_LANGUAGE;

  // 1. The input, all of it, before anything else: no state, no request for an unusable file.
  const inputs = args.file !== undefined ? [{ file: args.file, name: null as string | null, offsetMs: 0 }] : args.speakers.map((s) => ({ file: s.file, name: s.name, offsetMs: s.offsetMs }));
  const probes = [];
  for (const input of inputs) probes.push(await checkRecordingFile(input.file));
  const diarize = args.file !== undefined && config.STT_PROVIDER === 'mistral';
  const maxPieceMs = (args.maxPieceSeconds ?? (diarize ? 600 : config.MAX_UTTERANCE_SECONDS)) * 1000;
  const vad = await SileroVad.load();
  const tracks: Track[] = [];
  const usedIdentities = new Set<string>();
  for (const [i, input] of inputs.entries()) {
    progress(`Finding speech in ${input.file}…`);
    const cut = await cutTrack(input.file, probes[i]!, { vad, maxUtteranceMs: Math.min(maxPieceMs, config.MAX_UTTERANCE_SECONDS * 1000), offsetMs: input.offsetMs });
    let speaker: ParticipantRef | null = null;
    if (input.name !== null) {
      let identity = slug(input.name);
      for (let n = 2; usedIdentities.has(identity); n++) identity = `${slug(input.name)}-${n}`;
      usedIdentities.add(identity);
      speaker = { identity, name: input.name };
    }
    tracks.push({ file: input.file, speaker, offsetMs: input.offsetMs, cut });
  }
  const recordingMs = Math.max(...tracks.map((t) => t.offsetMs + t.cut.durationMs));
  const pieces = tracks.flatMap((t, i) => (diarize ? packPieces(i, t.cut.utterances, maxPieceMs) : t.cut.utterances.map((u) => ({ track: i, utterances: [u] }))));

  // 2. Where the meeting's state and artefacts go.
  const meetingId = args.meetingId ?? `rec-${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
  const outDir = resolve(args.out ?? meetingId);
  const connection = config.REDIS_URL ? createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: 3 }) : null;
  const store: MeetingStateStore = connection ? new MeetingStore(connection, { retentionDays: config.RETENTION_DAYS }) : new MemoryMeetingStore();
  const ttl = config.RETENTION_DAYS * 86_400;
  const local = new LocalArtifacts(outDir, config.RETENTION_DAYS);
  const s3 =
    config.S3_BUCKET && config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
      ? new MeetingArtifacts(createS3Client({ ...config, S3_ACCESS_KEY_ID: config.S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: config.S3_SECRET_ACCESS_KEY }), {
          bucket: config.S3_BUCKET,
          prefix: config.S3_PREFIX,
          retentionDays: config.RETENTION_DAYS,
          linkExpiryHours: config.LINK_EXPIRY_HOURS,
        })
      : null;
  const artifacts = new MirroredArtifacts(local, s3);
  const mailer = args.email.length > 0 ? createMailer(config.SMTP_URL as string, config.MAIL_FROM as string) : null;

  try {
    const existing = await store.get(meetingId);
    if (existing?.status === 'done') {
      throw new TranscribeError(`meeting ${meetingId} is already transcribed; choose another --meeting-id, or erase it first with meeting-agent delete ${meetingId}`, 2);
    }
    const startedAt = existing?.startedAt ?? new Date().toISOString();
    await store.create({ meetingId, room: null, language, requester: null, glossary: [], extraRecipients: args.email, status: 'active' });
    await store.update(meetingId, (m) => ({ ...m, status: 'active', startedAt, failure: null, extraRecipients: [...new Set([...m.extraRecipients, ...args.email])] }));
    for (const t of tracks) if (t.speaker) await store.upsertParticipant(meetingId, { ...t.speaker, email: null, optedOut: false });
    await store.expireAll(meetingId);

    // 3. Speech-to-text, utterance by utterance (or piece by piece), as many at once as STT_CONCURRENCY.
    const stt =
      overrides.stt ??
      createSpeechToText(config, {
        // Batch: every Retry-After comes back here, so all requests pause together (RetryGate);
        // other failures get more attempts than live, where the audio would be spooled instead.
        retry: { maxRetryAfterMs: 0, maxAttempts: 6, deadlineMs: MAX_RETRY_AFTER_MS },
      });
    const stored = new Set((await store.segments(meetingId)).map((s) => s.segmentId));
    const recognised = await recognise(tracks, pieces, {
      meetingId,
      language,
      startedAt,
      stt,
      diarize,
      concurrency: config.STT_CONCURRENCY,
      stored,
      onWait: (notice) => countdown(notice, progress, tty),
      onProgress: (done, total) => progress(`Speech-to-text: ${done}/${total} ${diarize ? 'piece(s)' : 'utterance(s)'}`),
    });
    const { counts, sentByTrack, requests } = recognised;

    // 4. Segments, stored by the segment worker's own function.
    for (const p of recognised.participants) await store.upsertParticipant(meetingId, { ...p, email: null, optedOut: false });
    for (const segment of recognised.segments) await persistSegment(store, { data: segment, id: undefined });
    await store.expireAll(meetingId);

    const sentMs = [...sentByTrack.values()].reduce((a, b) => a + b, 0);
    const recording: NonNullable<Manifest['recording']> = {
      recordingMs,
      speechMs: tracks.reduce((n, t) => n + t.cut.speechMs, 0),
      sentMs: Math.round(sentMs),
      requests,
      tracks: tracks.map((t, i) => ({
        file: t.file,
        speaker: t.speaker?.name ?? null,
        recordingMs: t.cut.durationMs,
        speechMs: t.cut.speechMs,
        sentMs: Math.round(sentByTrack.get(i) ?? 0),
        utterances: t.cut.utterances.length,
      })),
    };
    local.recording = recording;
    const sentLine = `Audio sent to speech-to-text: ${seconds(recording.sentMs)} of a ${seconds(recordingMs)} recording (${seconds(recording.speechMs)} of speech detected), in ${requests} request(s).`;

    // 5. Speech-to-text failed for good on some pieces: the rest is kept and written, no minutes.
    const { failures } = recognised;
    if (failures.length > 0) {
      const missing = failures.reduce((n, f) => n + f.piece.utterances.length, 0);
      const meeting = await store.markEnded(meetingId, 'recording_done', counts);
      await storeTranscript({ store, artifacts }, meeting, await store.segments(meetingId), missing);
      const cause = (failures[0] as { error: Error }).error.message;
      await store.update(meetingId, (m) => ({ ...m, status: 'failed', failure: `speech-to-text: ${cause}`.slice(0, 300) }));
      await store.expireAll(meetingId);
      say(sentLine);
      throw new TranscribeError(
        `Speech-to-text failed for ${missing} of ${pieces.reduce((n, p) => n + p.utterances.length, 0)} utterance(s): ${cause}\n` +
          `The transcript of the rest is in ${outDir}${s3 ? ' and S3' : ''} (marked incomplete); no minutes, no email.` +
          (connection ? ` Run the same command with --meeting-id ${meetingId} to transcribe only what is missing.` : ''),
        4,
      );
    }

    // 6. The pipeline's finalisation: transcript stored, minutes, artefacts, email jobs.
    await store.markEnded(meetingId, 'recording_done', counts);
    const mistral = { ...mistralChatOptionsFrom(config), ...overrides.mistral };
    const minutes = { chat: createMistralChat(mistral), model: mistral.model, tokenBudget: config.MINUTES_TOKEN_BUDGET, estimator: new TokenEstimator() };
    progress('Writing the minutes…');
    let emailJobs;
    try {
      emailJobs = await finalizeInline({ store, artifacts, minutes, retentionDays: config.RETENTION_DAYS }, meetingId, 'recording_done');
    } catch (e) {
      await store.expireAll(meetingId);
      const written = (await local.manifest(meetingId))?.files.map((f) => f.name) ?? [];
      say(sentLine);
      throw new TranscribeError(
        `The minutes could not be written: ${(e as Error).message}\n` +
          (written.length > 0 ? `The transcript is in ${outDir} (${written.join(', ')})${s3 ? ' and S3' : ''}; no email was sent.` : 'Nothing was written.'),
        5,
      );
    }

    // 7. One email per recipient, by the email worker's function; each outcome recorded.
    if (mailer && emailJobs.length > 0) {
      progress('Sending the minutes…');
      await sendEmailsInline({ store, artifacts, mailer, sent: connection ? new SentMarkers(connection, ttl) : new MemorySentMarkers() }, emailJobs, overrides.emailRetry, (job, attempt, delayMs) =>
        progress(`Email to ${job.recipient.address} failed for now (attempt ${attempt}); trying again in ${Math.round(delayMs / 1000)} s.`),
      );
    }
    await store.expireAll(meetingId);
    if (tty) process.stderr.write('\n');

    const deliveries = Object.values(await store.deliveries(meetingId)).map((d) => ({ address: d.address, outcome: d.outcome, reply: d.reply }));
    const files = (await local.manifest(meetingId))?.files.map((f) => f.name) ?? [];
    say(`Meeting ${meetingId}: ${tracks.reduce((n, t) => n + t.cut.utterances.length, 0)} utterance(s) from ${tracks.length} file(s).`);
    say(`Files written to ${outDir}: ${files.join(', ')}, manifest.json${s3 ? ` (and to s3://${s3.options.bucket}/${s3.meetingPrefix(meetingId)})` : ''}`);
    for (const d of deliveries) {
      if (d.outcome === 'sent') say(`Emailed to ${d.address}.`);
      else say(`NOT emailed to ${d.address}: ${d.outcome === 'refused' ? 'the mail server refused this address' : 'the mail server kept failing'} (${d.reply ?? 'no reply'}).`);
    }
    say(sentLine);
    const unreached = deliveries.filter((d) => d.outcome !== 'sent');
    if (unreached.length > 0) {
      throw new TranscribeError(`Done, but ${unreached.length} recipient(s) did not get the minutes: ${unreached.map((d) => d.address).join(', ')}.`, 6);
    }
    return { meetingId, outDir, recording, deliveries };
  } finally {
    mailer?.close();
    connection?.disconnect();
  }
}

export async function main(argv: string[]): Promise<void> {
  let args: TranscribeArgs;
  try {
    args = parseTranscribeArgs(argv);
  } catch (e) {
    throw e instanceof TranscribeError ? e : new TranscribeError((e as Error).message, 2);
  }
  await runTranscribe(args, await loadCheckedConfig('transcribe'));
}
