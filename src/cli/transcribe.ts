/**
 * `meeting-agent transcribe <file> [--language fr] [--out DIR] [--email a@b]...`: the recording mode.
 * A recording (a LiveKit egress OGG, or anything ffmpeg reads) is cut into pieces the speech-to-text
 * provider accepts, at the quietest moment near each piece's maximum length, transcribed (with the
 * provider's speaker labels when it offers diarization, else one "Enregistrement" speaker), then
 * goes through the same transcript, minutes, storage and email steps as a live meeting.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { Config } from '../config.js';
import { loadCheckedConfig } from '../pipelines/residency.js';
import { MeetingStore } from '../meeting/meeting-store.js';
import { decodeToPcm, type PcmAudio } from '../pipelines/audio/ffmpeg.js';
import { composeMinutesEmail } from '../pipelines/email/compose-email.js';
import { createMailer, SentMarkers } from '../pipelines/email/mailer.js';
import { recipientKey, resolveRecipients } from '../pipelines/email/recipients.js';
import { minutesFiles, transcriptFiles, transcriptOf } from '../pipelines/meeting-outputs.js';
import { generateMinutes } from '../pipelines/minutes/generate-minutes.js';
import { createMistralChat, mistralChatOptionsFrom, type MistralChatOptions } from '../pipelines/minutes/mistral-chat.js';
import { createRedisConnection } from '../meeting/redis-connection.js';
import { LINKED_ARTEFACTS } from '../pipelines/queues/email-worker.js';
import { createSpeechToText } from '../pipelines/stt/index.js';
import type { SpeechToText } from '../pipelines/stt/types.js';
import { segmentId, type TranscriptSegment } from '../meeting/segment.js';
import { MeetingArtifacts, type PresignedLink } from '../storage/meeting-artifacts.js';
import { createS3Client } from '../storage/s3-client.js';

const ArgsSchema = z.object({
  file: z.string().min(1),
  language: z.string().regex(/^[a-z]{2}$/, 'a two-letter ISO 639-1 code such as fr').optional(),
  out: z.string().min(1).optional(),
  email: z.array(z.email('must be an email address')).default([]),
  maxPieceSeconds: z.coerce.number().int().min(20).max(1800).default(600),
  meetingId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/).optional(),
});
export type TranscribeArgs = z.infer<typeof ArgsSchema>;

export const USAGE = 'Usage: meeting-agent transcribe <file> [--language fr] [--out DIR] [--email a@b]... [--max-piece-seconds 600] [--meeting-id ID]';

export function parseTranscribeArgs(argv: string[]): TranscribeArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      language: { type: 'string' },
      out: { type: 'string' },
      email: { type: 'string', multiple: true },
      'max-piece-seconds': { type: 'string' },
      'meeting-id': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new Error(USAGE);
  const parsed = ArgsSchema.safeParse({
    file: positionals[0],
    language: values.language,
    out: values.out,
    email: values.email ?? [],
    maxPieceSeconds: values['max-piece-seconds'],
    meetingId: values['meeting-id'],
  });
  if (!parsed.success) {
    throw new Error(`${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}\n${USAGE}`);
  }
  return parsed.data;
}

// ---- Cutting ----

const FRAME_MS = 20;

/**
 * Where to cut a window so that the piece ends in the quietest 400 ms of its last quarter
 * (a pause between sentences), never mid-word when a pause exists.
 */
export function quietCutMs(audio: PcmAudio): number {
  const frameSamples = (audio.sampleRate * FRAME_MS) / 1000;
  const frames = Math.floor(audio.samples.length / frameSamples);
  const energy = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = f * frameSamples; i < (f + 1) * frameSamples; i++) {
      const v = audio.samples[i] as number;
      sum += v * v;
    }
    energy[f] = sum;
  }
  const span = 400 / FRAME_MS;
  const from = Math.floor(frames * 0.75);
  let best = frames - span;
  let bestSum = Infinity;
  let sum = 0;
  for (let f = from; f < frames; f++) {
    sum += energy[f] as number;
    if (f - from >= span) sum -= energy[f - span] as number;
    if (f - from >= span - 1 && sum < bestSum) {
      bestSum = sum;
      best = f - span + 1;
    }
  }
  return Math.max(FRAME_MS, Math.round((best + span / 2) * FRAME_MS));
}

function slice(audio: PcmAudio, endMs: number): PcmAudio {
  const end = Math.round((endMs / 1000) * audio.sampleRate) * audio.channels;
  return { ...audio, samples: audio.samples.subarray(0, end) };
}

export interface RecordingPiece {
  startMs: number;
  durationMs: number;
}

export interface RecognisedRecording {
  segments: TranscriptSegment[];
  participants: { identity: string; name: string }[];
  pieces: RecordingPiece[];
  durationMs: number;
}

/** Cuts, transcribes and labels a recording; `onProgress` gets the audio time done so far. */
export async function transcribeRecording(
  file: string,
  opts: { meetingId: string; language: string; stt: SpeechToText; maxPieceMs: number; startedAt: string; onProgress?: (doneMs: number, pieces: number) => void },
): Promise<RecognisedRecording> {
  const pieces: RecordingPiece[] = [];
  const raw: { startMs: number; endMs: number; text: string; speaker: string | null; confidence: number | null; filtered: TranscriptSegment['filtered']; provider: string; model: string }[] = [];
  let pos = 0;
  // What the hallucination filter dropped in pieces left with no line, counted on the next line.
  let uncounted: TranscriptSegment['filtered'] = [];
  for (;;) {
    const window = await decodeToPcm(file, { sampleRate: 16_000, channels: 1, startMs: pos, durationMs: opts.maxPieceMs });
    const windowMs = Math.floor((window.samples.length / 16_000) * 1000);
    if (windowMs < 100) break;
    const last = windowMs < opts.maxPieceMs - 50;
    const cutMs = last ? windowMs : quietCutMs(window);
    const piece = last ? window : slice(window, cutMs);
    const result = await opts.stt.transcribe({ audio: piece, language: opts.language, diarize: true });
    const pieceFiltered = [...uncounted, ...result.filtered];
    uncounted = result.segments.length === 0 ? pieceFiltered : [];
    result.segments.forEach((s, i) => {
      raw.push({
        startMs: pos + s.startMs,
        endMs: pos + s.endMs,
        text: s.text,
        speaker: s.speaker ?? null,
        confidence: result.confidence,
        // What the hallucination filter dropped in this piece is counted once, on its first line.
        filtered: i === 0 ? pieceFiltered : [],
        provider: result.provider,
        model: result.model,
      });
    });
    pieces.push({ startMs: pos, durationMs: cutMs });
    pos += cutMs;
    opts.onProgress?.(pos, pieces.length);
    if (last) break;
  }

  // Counts of trailing pieces with no line go on the last line, or on an empty one when nothing was kept.
  const lastRow = raw.at(-1);
  if (uncounted.length > 0 && lastRow) lastRow.filtered = [...lastRow.filtered, ...uncounted];
  else if (uncounted.length > 0) raw.push({ startMs: 0, endMs: 0, text: '', speaker: null, confidence: null, filtered: uncounted, provider: opts.stt.provider, model: opts.stt.model });

  const en = opts.language === 'en';
  const diarized = raw.some((r) => r.speaker !== null);
  const labels = new Map<string, { identity: string; name: string }>();
  const speakerOf = (label: string | null) => {
    if (!diarized) return { identity: 'recording', name: en ? 'Recording' : 'Enregistrement' };
    const key = label ?? '?';
    let p = labels.get(key);
    if (!p) {
      p = { identity: `speaker-${labels.size + 1}`, name: `${en ? 'Speaker' : 'Intervenant'} ${labels.size + 1}` };
      labels.set(key, p);
    }
    return p;
  };
  const seq = new Map<string, number>();
  const t0 = Date.parse(opts.startedAt);
  const segments = raw.map((r) => {
    const who = speakerOf(r.speaker);
    const n = seq.get(who.identity) ?? 0;
    seq.set(who.identity, n + 1);
    return {
      meetingId: opts.meetingId,
      segmentId: segmentId(who.identity, n),
      participant: who,
      sequence: n,
      trackSid: null,
      startMs: r.startMs,
      endMs: r.endMs,
      startedAt: new Date(t0 + r.startMs).toISOString(),
      text: r.text,
      language: opts.language,
      confidence: r.confidence,
      provider: r.provider,
      model: r.model,
      filtered: r.filtered,
      deferred: false,
    } satisfies TranscriptSegment;
  });
  const participants = diarized ? [...labels.values()] : [speakerOf(null)];
  return { segments, participants, pieces, durationMs: pos };
}

// ---- The command ----

export interface TranscribeOverrides {
  stt?: SpeechToText;
  mistral?: Partial<MistralChatOptions>;
  log?: (line: string) => void;
}

function progressReporter(tty: boolean) {
  return (doneMs: number, pieces: number) => {
    if (!tty) return;
    const s = Math.floor(doneMs / 1000);
    process.stderr.write(`\rTranscription : ${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s d’audio, ${pieces} morceau(x)   `);
  };
}

export async function runTranscribe(args: TranscribeArgs, config: Config, overrides: TranscribeOverrides = {}): Promise<{ meetingId: string; outDir: string; emailed: string[] }> {
  const say = overrides.log ?? ((line: string) => console.log(line));
  const tty = process.stderr.isTTY === true;
  const language = args.language ?? config.STT_LANGUAGE;
  const now = new Date();
  const meetingId = args.meetingId ?? `rec-${now.toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
  const outDir = resolve(args.out ?? meetingId);
  const connection = createRedisConnection(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const store = new MeetingStore(connection, { retentionDays: config.RETENTION_DAYS });
  const mailer = createMailer(config.SMTP_URL, config.MAIL_FROM);
  try {
    await store.create({ meetingId, room: null, language, requester: null, glossary: [], extraRecipients: args.email, status: 'active' });
    await store.update(meetingId, (m) => ({ ...m, startedAt: now.toISOString() }));

    const stt = overrides.stt ?? createSpeechToText(config);
    const rec = await transcribeRecording(args.file, { meetingId, language, stt, maxPieceMs: args.maxPieceSeconds * 1000, startedAt: now.toISOString(), onProgress: progressReporter(tty) });
    if (tty) process.stderr.write('\n');
    for (const p of rec.participants) await store.upsertParticipant(meetingId, { ...p, email: null, optedOut: false });
    for (const s of rec.segments) await store.addSegment(s);
    await store.markEnded(meetingId, 'recording_done');
    await store.update(meetingId, (m) => ({ ...m, status: 'finalising' }));

    const info = await store.get(meetingId);
    if (!info) throw new Error('meeting state vanished');
    const transcript = transcriptOf(info, await store.participants(meetingId), rec.segments, []);
    if (tty) process.stderr.write('Rédaction du compte rendu…\n');
    const mistral = { ...mistralChatOptionsFrom(config), ...overrides.mistral };
    const minutes = await generateMinutes(transcript, { chat: createMistralChat(mistral), model: mistral.model, tokenBudget: config.MINUTES_TOKEN_BUDGET });
    const files = { ...transcriptFiles(transcript), ...minutesFiles(minutes) };

    await mkdir(outDir, { recursive: true });
    for (const [name, content] of Object.entries(files)) await writeFile(join(outDir, name), content);

    let links: PresignedLink[] = [];
    if (config.S3_BUCKET && config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY) {
      const artifacts = new MeetingArtifacts(createS3Client({ ...config, S3_ACCESS_KEY_ID: config.S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: config.S3_SECRET_ACCESS_KEY }), {
        bucket: config.S3_BUCKET,
        prefix: config.S3_PREFIX,
        retentionDays: config.RETENTION_DAYS,
        linkExpiryHours: config.LINK_EXPIRY_HOURS,
      });
      await artifacts.store(meetingId, files, { ...minutes.generation.usage, calls: minutes.generation.calls });
      links = await artifacts.links(meetingId, LINKED_ARTEFACTS);
      say(`Stored in s3://${config.S3_BUCKET}/${artifacts.meetingPrefix(meetingId)}`);
    }

    const sent = new SentMarkers(connection, config.RETENTION_DAYS * 86_400);
    const emailed: string[] = [];
    for (const r of resolveRecipients(info, [])) {
      const key = recipientKey(r.address);
      if (await sent.wasSent(meetingId, key)) continue;
      const email = composeMinutesEmail({ minutes, recipientName: null, meetingDate: now.toISOString(), links });
      const { messageId } = await mailer.send(r, email, { 'X-Meeting-Id': meetingId });
      await sent.markSent(meetingId, key, messageId);
      emailed.push(r.address);
    }
    await store.update(meetingId, (m) => ({ ...m, status: 'done' }));
    await store.expireAll(meetingId);

    say(`Meeting ${meetingId}: ${Math.round(rec.durationMs / 1000)} s of audio in ${rec.pieces.length} piece(s), ${transcript.turns.length} turn(s), ${rec.participants.length} speaker(s).`);
    say(`Minutes: ${minutes.kind === 'minutes' ? `${minutes.decisions.length} decision(s), ${minutes.actionItems.length} action item(s)` : 'too little speech, short note only'}.`);
    say(`Files written to ${outDir}: ${Object.keys(files).join(', ')}`);
    if (emailed.length > 0) say(`Emailed to: ${emailed.join(', ')}`);
    return { meetingId, outDir, emailed };
  } catch (e) {
    await store.update(meetingId, (m) => ({ ...m, status: 'failed', failure: (e as Error).message.slice(0, 300) })).catch(() => undefined);
    throw e;
  } finally {
    mailer.close();
    connection.disconnect();
  }
}

export async function main(argv: string[]): Promise<void> {
  const args = parseTranscribeArgs(argv);
  const config = await loadCheckedConfig('transcribe');
  await runTranscribe(args, config);
}
