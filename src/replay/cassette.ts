/**
 * Cassettes: what the replay servers answer, one human-readable JSON file per meeting or scenario
 * (fixtures/cassettes/*.json), validated with zod on load so a hand edit that breaks the format is
 * reported with its path instead of surfacing as a strange answer mid-test.
 */
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

export const CASSETTE_VERSION = 1;

export const Provider = z.enum(['openai', 'mistral']);
export type Provider = z.infer<typeof Provider>;

/** Where an entry came from: generated from a fixture's ground truth, or recorded from a live service. */
export const Origin = z.enum(['ground-truth', 'recorded']);
export type Origin = z.infer<typeof Origin>;

// ---- OpenAI-compatible transcription (verbose_json), as OpenAI and whisper servers return it ----

export const OpenAiSegment = z.looseObject({
  id: z.number().int(),
  // OpenAI sends it; faster-whisper-server does not (found by recording it). Replays recompute it.
  seek: z.number().int().optional(),
  start: z.number(),
  end: z.number(),
  text: z.string(),
  tokens: z.array(z.number().int()),
  temperature: z.number(),
  avg_logprob: z.number(),
  compression_ratio: z.number(),
  no_speech_prob: z.number(),
});
export type OpenAiSegment = z.infer<typeof OpenAiSegment>;

/** A timed word, seconds in the answer's timeline (OpenAI verbose_json `words`). */
export const OpenAiWord = z.looseObject({ word: z.string(), start: z.number(), end: z.number() });
export type TimedWord = z.infer<typeof OpenAiWord>;

export const OpenAiVerboseTranscription = z.looseObject({
  task: z.literal('transcribe').default('transcribe'),
  language: z.string(),
  duration: z.number(),
  text: z.string(),
  segments: z.array(OpenAiSegment),
  words: z.array(OpenAiWord).optional(),
});
export type OpenAiVerboseTranscription = z.infer<typeof OpenAiVerboseTranscription>;

// ---- Mistral (Voxtral) transcription, as @mistralai/mistralai 2.x parses it ----

export const MistralUsage = z.looseObject({
  prompt_tokens: z.number().int().default(0),
  completion_tokens: z.number().int().default(0),
  total_tokens: z.number().int().default(0),
  // The SDK rejects a non-integer here (z.int()).
  prompt_audio_seconds: z.number().int().nullable().optional(),
});
export type MistralUsage = z.infer<typeof MistralUsage>;

export const MistralSegment = z.looseObject({
  type: z.literal('transcription_segment').default('transcription_segment'),
  text: z.string(),
  start: z.number(),
  end: z.number(),
});
export type MistralSegment = z.infer<typeof MistralSegment>;

export const MistralTranscription = z.looseObject({
  model: z.string(),
  text: z.string(),
  language: z.string().nullable(),
  segments: z.array(MistralSegment),
  usage: MistralUsage,
  /**
   * Replay-only, never sent: the words with their times (ground-truth cassettes), so an upload
   * holding part of a segment is answered with that part's words (transcription-format.ts).
   */
  words: z.array(OpenAiWord).optional(),
});
export type MistralTranscription = z.infer<typeof MistralTranscription>;

// ---- Entries ----

const Fingerprint = z.object({
  frameMs: z.number().int().positive(),
  /** Number of frames, checked against the decoded fingerprint. */
  frames: z.number().int().nonnegative(),
  /** base64 of one byte per frame: log-energy in half-dB steps above -100 dBFS (see fingerprint.ts). */
  data: z.string(),
});

const TranscriptionCommon = {
  id: z.string().min(1),
  origin: Origin,
  /** Model the request must name; "*" accepts any. */
  model: z.string().min(1),
  /** ISO 639-1 code the request must name when it names one. */
  language: z.string().min(2),
  /** What the recorded audio was (a fixture file, an upload), for humans. */
  audio: z.object({ label: z.string(), durationSec: z.number().nonnegative(), fingerprint: Fingerprint }),
};

export const TranscriptionEntry = z.discriminatedUnion('provider', [
  z.object({ ...TranscriptionCommon, provider: z.literal('openai'), response: OpenAiVerboseTranscription }),
  z.object({ ...TranscriptionCommon, provider: z.literal('mistral'), response: MistralTranscription }),
]);
export type TranscriptionEntry = z.infer<typeof TranscriptionEntry>;

/** What to answer for an upload with no audible frame (real Whisper may hallucinate there). */
export const SilenceEntry = z.discriminatedUnion('provider', [
  z.object({ id: z.string().min(1), origin: Origin, provider: z.literal('openai'), model: z.string(), language: z.string(), response: OpenAiVerboseTranscription }),
  z.object({ id: z.string().min(1), origin: Origin, provider: z.literal('mistral'), model: z.string(), language: z.string(), response: MistralTranscription }),
]);
export type SilenceEntry = z.infer<typeof SilenceEntry>;

export const ChatResponse = z.looseObject({
  id: z.string(),
  object: z.string(),
  model: z.string(),
  created: z.number().int(),
  choices: z.array(
    z.looseObject({
      index: z.number().int(),
      message: z.looseObject({
        role: z.literal('assistant'),
        content: z.union([z.string(), z.array(z.unknown())]).nullable(),
        tool_calls: z.array(z.unknown()).nullable().optional(),
      }),
      finish_reason: z.string(),
    }),
  ),
  usage: MistralUsage,
});
export type ChatResponse = z.infer<typeof ChatResponse>;

export const ChatEntry = z.object({
  id: z.string().min(1),
  origin: Origin,
  model: z.string().min(1),
  /** response_format.json_schema.name, or null when the request asked for none. */
  schemaName: z.string().nullable(),
  /** sha256 of `request` (hex). */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  /** The normalised messages the digest is taken from (see chat-match.ts), for humans and diffs. */
  request: z.string(),
  response: ChatResponse,
});
export type ChatEntry = z.infer<typeof ChatEntry>;

export const Cassette = z.object({
  version: z.literal(CASSETTE_VERSION),
  name: z.string(),
  /** Where the entries come from, in words: generated from ground truth, or recorded from which service. */
  source: z.string(),
  transcriptions: z.array(TranscriptionEntry).default([]),
  onSilence: z.array(SilenceEntry).default([]),
  chat: z.array(ChatEntry).default([]),
});
export type Cassette = z.infer<typeof Cassette>;

export class CassetteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CassetteError';
  }
}

export function parseCassette(json: unknown, where: string): Cassette {
  const parsed = Cassette.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new CassetteError(`invalid cassette ${where}: ${issues}`);
  }
  const ids = new Set<string>();
  for (const e of [...parsed.data.transcriptions, ...parsed.data.onSilence, ...parsed.data.chat]) {
    if (ids.has(e.id)) throw new CassetteError(`invalid cassette ${where}: duplicate entry id "${e.id}"`);
    ids.add(e.id);
  }
  return parsed.data;
}

export async function loadCassette(path: string): Promise<Cassette> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CassetteError(`cannot read cassette ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CassetteError(`cassette ${path} is not JSON: ${(e as Error).message}`);
  }
  return parseCassette(json, path);
}

export function emptyCassette(name: string, source: string): Cassette {
  return { version: CASSETTE_VERSION, name, source, transcriptions: [], onSilence: [], chat: [] };
}

/** Writes atomically (temp file + rename): a crash mid-write never leaves half a cassette. */
export async function saveCassette(path: string, cassette: Cassette): Promise<void> {
  const valid = parseCassette(cassette, path);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(valid, null, 2)}\n`);
  await rename(tmp, path);
}
