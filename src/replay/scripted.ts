/**
 * Scripted answers: what a route answers call after call, whatever the request says. This is how
 * the field cases describe a service (`mistral*.json`: `{"answers":[...]}`, one per chat call, in
 * order; `stt*.json`: `{"mode":"fixed","response":{...}}`, the same answer to every upload, or
 * `{"mode":"energy","energyText":"bip"}`, one segment per burst of sound in the upload, at its times
 * inside the upload, with that text ("{n}" in it becomes the burst's number, 1, 2...); both with
 * `"faults":[null, {"status":429,"headers":{...},"body":{...}}]`, answered to call i instead), for
 * faults that depend on the order of calls (a cut-off answer, then a good one) rather than on what
 * was asked. A script takes precedence over cassettes on its route; past its last answer the route
 * answers 599 (unmatched), so a test never gets an answer it did not write.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { HttpError } from './http-io.js';
import { frameDb, type Fingerprint } from './fingerprint.js';
import { languageName } from './transcription-format.js';
import type { Reply, Upload } from './transcription-replay.js';
import type { TranscriptionRequest } from './transcription-request.js';

const ErrorAnswer = z.object({
  status: z.number().int().min(400).max(599),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.unknown().optional(),
});

export const ChatScriptAnswer = z.union([
  z.object({
    /** The minutes object (sent as its JSON text) or the raw message content. */
    content: z.union([z.string(), z.record(z.string(), z.unknown())]),
    finish_reason: z.string().default('stop'),
  }),
  ErrorAnswer,
]);
export type ChatScriptAnswer = z.infer<typeof ChatScriptAnswer>;

export const ChatScript = z.object({ answers: z.array(ChatScriptAnswer).min(1) });

/** Call i gets faults[i] instead of its answer, when not null. */
const Faults = z.array(ErrorAnswer.nullable()).default([]);

export const TranscriptionScript = z.union([
  z.object({ mode: z.literal('fixed'), response: z.record(z.string(), z.unknown()), faults: Faults }),
  z.object({ mode: z.literal('energy'), energyText: z.string().min(1), faults: Faults }),
  z.object({ answers: z.array(z.union([z.object({ response: z.record(z.string(), z.unknown()) }), ErrorAnswer])).min(1) }),
]);

export type RouteScript = { kind: 'chat'; answers: ChatScriptAnswer[] } | { kind: 'transcription'; script: z.input<typeof TranscriptionScript> };

/** Reads a field-case file (`mistral*.json` or `stt*.json`), with the field at fault named when it is not one. */
export async function loadScript(path: string, kind: RouteScript['kind']): Promise<RouteScript> {
  const json = JSON.parse(await readFile(path, 'utf8')) as unknown;
  const parsed = kind === 'chat' ? ChatScript.safeParse(json) : TranscriptionScript.safeParse(json);
  if (!parsed.success) {
    throw new Error(`script ${path}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return kind === 'chat' ? { kind, answers: (parsed.data as z.infer<typeof ChatScript>).answers } : { kind, script: parsed.data as z.infer<typeof TranscriptionScript> };
}

/** What a scripted route saw of one call: no content, only what a test needs to tell calls apart. */
export interface ScriptedCall {
  index: number;
  /** Chat: the `max_tokens` asked for (null when none). */
  maxTokens: number | null;
  /** Chat: sha256 of the normalised messages (chat-match.ts), equal for a request re-sent unchanged. */
  digest: string | null;
}

function errorReply(a: z.input<typeof ErrorAnswer>): Reply {
  return {
    status: a.status,
    contentType: 'application/json',
    body: JSON.stringify(a.body ?? { object: 'error', message: `scripted error ${a.status}`, type: 'scripted', param: null, code: String(a.status) }),
    headers: a.headers ?? {},
  };
}

/** The chat completion for the `index`-th call (0-based), as Mistral's API shapes it. */
export function scriptedChatReply(answers: readonly ChatScriptAnswer[], index: number, model: string): Reply {
  const a = answers[index];
  if (!a) throw new HttpError(599, `replay: mistral.chat: the script has ${answers.length} answer(s) and this is call ${index + 1}`, 'replay_unmatched');
  if ('status' in a) return errorReply(a);
  const content = typeof a.content === 'string' ? a.content : JSON.stringify(a.content);
  const completionTokens = Math.ceil(content.length / 4);
  return {
    status: 200,
    contentType: 'application/json',
    body: JSON.stringify({
      id: `scripted-${index + 1}`,
      object: 'chat.completion',
      model,
      created: Math.floor(Date.now() / 1000),
      choices: [{ index: 0, message: { role: 'assistant', content, tool_calls: null }, finish_reason: a.finish_reason }],
      usage: { prompt_tokens: 1000, completion_tokens: completionTokens, total_tokens: 1000 + completionTokens },
    }),
  };
}

/** Bursts of sound: runs of 20 ms frames at or above `floorDb`, joined across gaps under 300 ms; seconds. */
export function bursts(fp: Fingerprint, floorDb = -45): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  const maxGap = Math.round(300 / fp.frameMs);
  let start = -1;
  let last = -1;
  fp.frames.forEach((q, i) => {
    if (frameDb(q) < floorDb) return;
    if (start >= 0 && i - last > maxGap) {
      out.push({ start, end: last + 1 });
      start = i;
    } else if (start < 0) start = i;
    last = i;
  });
  if (start >= 0) out.push({ start, end: last + 1 });
  const sec = (frames: number) => Math.round(frames * fp.frameMs) / 1000;
  return out.map((b) => ({ start: sec(b.start), end: sec(b.end) }));
}

/** The energy answer for an upload, in the provider's own format. */
function energyResponse(energyText: string, tr: TranscriptionRequest, upload: Upload): Record<string, unknown> {
  const found = bursts(upload.fingerprint);
  const text = (i: number) => energyText.replaceAll('{n}', String(i + 1));
  const all = found.map((_, i) => text(i)).join(' ');
  const lang = tr.language ?? 'en';
  if (tr.provider === 'openai') {
    return {
      task: 'transcribe',
      language: languageName(lang),
      duration: Math.round(upload.durationSec * 100) / 100,
      text: all,
      segments: found.map((b, id) => ({ id, seek: 0, start: b.start, end: b.end, text: ` ${text(id)}`, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: 0.01 })),
    };
  }
  return {
    model: tr.model,
    text: all,
    language: lang,
    segments: found.map((b, i) => ({ type: 'transcription_segment', text: text(i), start: b.start, end: b.end })),
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_audio_seconds: Math.ceil(upload.durationSec) },
  };
}

/**
 * The transcription answer for the `index`-th upload: its scripted fault, else the fixed response,
 * the energy answer (needs the analysed `upload`), or the script's `index`-th answer.
 */
export function scriptedTranscriptionReply(script: z.input<typeof TranscriptionScript>, index: number, tr: TranscriptionRequest, upload: Upload | null): Reply {
  const fault = 'faults' in script ? script.faults?.[index] : null;
  if (fault) return errorReply(fault);
  if ('mode' in script && script.mode === 'energy') {
    if (!upload) throw new Error('an energy script needs the analysed upload');
    return { status: 200, contentType: 'application/json', body: JSON.stringify(energyResponse(script.energyText, tr, upload)) };
  }
  const a = 'mode' in script ? { response: script.response } : script.answers[index];
  if (!a) throw new HttpError(599, `replay: transcriptions: the script has ${'answers' in script ? script.answers.length : 1} answer(s) and this is call ${index + 1}`, 'replay_unmatched');
  if ('status' in a) return errorReply(a);
  return { status: 200, contentType: 'application/json', body: JSON.stringify(a.response) };
}
