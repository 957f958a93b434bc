/**
 * Answering a transcription upload from cassettes: decode, fingerprint, find the recorded audio it
 * was cut from, and answer with the recorded words of exactly that window.
 */
import { decodeToPcm } from '../pipelines/audio/ffmpeg.js';
import type { MistralTranscription, OpenAiVerboseTranscription, SilenceEntry, TranscriptionEntry } from './cassette.js';
import { fingerprintPcm, isSilent, SAMPLE_RATE, type Fingerprint } from './fingerprint.js';
import { HttpError } from './http-io.js';
import { cropMistral, cropOpenAi, languageName, renderMistral, renderOpenAi } from './transcription-format.js';
import { findSilenceEntry, matchTranscription, type MatchMethod, type MatchOptions, type TranscriptionMiss } from './transcription-match.js';
import type { TranscriptionRequest } from './transcription-request.js';

/**
 * Response headers of a matched transcription: the match score (0..1, three decimals) and its
 * method (`whole`, or `blocks` when the upload had gaps or drops, e.g. WebRTC under load).
 */
export const MATCH_SCORE_HEADER = 'x-replay-match-score';
export const MATCH_METHOD_HEADER = 'x-replay-match-method';

export interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

export interface Upload {
  fingerprint: Fingerprint;
  durationSec: number;
  silent: boolean;
}

export async function analyseUpload(tr: TranscriptionRequest, silenceFloorDb: number): Promise<Upload> {
  let samples: Int16Array;
  try {
    samples = (await decodeToPcm(tr.file.bytes, { sampleRate: SAMPLE_RATE, channels: 1 })).samples;
  } catch {
    throw new HttpError(400, 'Invalid file format: the audio could not be decoded.', 'invalid_request_error', 'file');
  }
  if (samples.length === 0) throw new HttpError(400, 'Audio file is empty or has no audio stream.', 'invalid_request_error', 'file');
  const fingerprint = fingerprintPcm(samples);
  return { fingerprint, durationSec: samples.length / SAMPLE_RATE, silent: isSilent(fingerprint, silenceFloorDb) };
}

export function renderTranscription(tr: TranscriptionRequest, response: OpenAiVerboseTranscription | MistralTranscription): Reply {
  if (tr.provider === 'openai') {
    const r = renderOpenAi(response as OpenAiVerboseTranscription, tr.responseFormat, tr.granularities);
    return { status: 200, contentType: r.contentType, body: r.body };
  }
  return { status: 200, contentType: 'application/json', body: renderMistral(response as MistralTranscription, tr.granularities) };
}

export interface TranscriptionLibrary {
  transcriptions: readonly TranscriptionEntry[];
  onSilence: readonly SilenceEntry[];
}

export type TranscriptionOutcome =
  | { kind: 'matched'; reply: Reply; entryId: string; score: number; method: MatchMethod; fromSec: number }
  | { kind: 'silence'; reply: Reply; entryId: string | null }
  | { kind: 'unmatched'; miss: TranscriptionMiss; upload: Upload };

export function answerTranscription(tr: TranscriptionRequest, upload: Upload, lib: TranscriptionLibrary, opts: MatchOptions): TranscriptionOutcome {
  const query = { provider: tr.provider, model: tr.model, language: tr.language };
  if (upload.silent) {
    const entry = findSilenceEntry(lib.onSilence, query);
    const lang = tr.language ?? entry?.language ?? 'en';
    const response = entry ? withDuration(entry, upload.durationSec, tr.model) : emptyResponse(tr, lang, upload.durationSec);
    return { kind: 'silence', reply: renderTranscription(tr, response), entryId: entry?.id ?? null };
  }

  const found = matchTranscription(lib.transcriptions, { ...query, fingerprint: upload.fingerprint }, opts);
  if ('miss' in found) return { kind: 'unmatched', miss: found.miss, upload };
  const { entry, alignment, method, fromSec, spanSec } = found.hit;
  // The recorded stretch the upload covers: with gaps or drops a little shorter or longer than the
  // upload, whose own duration the answer still gives.
  const window = { fromSec, durationSec: method === 'whole' ? upload.durationSec : spanSec };
  const uploadSec = Math.round(upload.durationSec * 100) / 100;
  let response: OpenAiVerboseTranscription | MistralTranscription;
  if (entry.provider === 'openai') {
    response = { ...cropOpenAi(entry.response, window), duration: uploadSec };
  } else {
    const cropped = cropMistral(entry.response, window);
    response = {
      ...cropped,
      model: entry.model === '*' ? tr.model : entry.response.model,
      usage: { ...cropped.usage, prompt_audio_seconds: Math.ceil(upload.durationSec) },
    };
  }
  const reply = renderTranscription(tr, response);
  const score = Math.round(alignment.score * 1000) / 1000;
  reply.headers = { ...reply.headers, [MATCH_SCORE_HEADER]: String(score), [MATCH_METHOD_HEADER]: method };
  return { kind: 'matched', reply, entryId: entry.id, score, method, fromSec };
}

function emptyResponse(tr: TranscriptionRequest, lang: string, duration: number): OpenAiVerboseTranscription | MistralTranscription {
  const d = Math.round(duration * 100) / 100;
  return tr.provider === 'openai'
    ? { task: 'transcribe', language: languageName(lang), duration: d, text: '', segments: [] }
    : {
        model: tr.model,
        text: '',
        language: lang,
        segments: [],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_audio_seconds: Math.ceil(duration) },
      };
}

function withDuration(entry: SilenceEntry, duration: number, requestModel: string): OpenAiVerboseTranscription | MistralTranscription {
  if (entry.provider === 'openai') return { ...entry.response, duration: Math.round(duration * 100) / 100 };
  const r = entry.response;
  return { ...r, model: entry.model === '*' ? requestModel : r.model, usage: { ...r.usage, prompt_audio_seconds: Math.ceil(duration) } };
}
