/**
 * Record mode: forward each request to the real service, hand its answer back unchanged, and keep
 * it in a cassette (audio fingerprint + answer, or chat digest + answer) for later replays.
 *
 * The API key is only ever put in the upstream request's Authorization header; cassettes hold the
 * request's normalised text or audio fingerprint and the service's answer, nothing else.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  ChatResponse,
  emptyCassette,
  loadCassette,
  MistralTranscription,
  OpenAiVerboseTranscription,
  saveCassette,
  type Cassette,
  type ChatEntry,
  type Provider,
  type SilenceEntry,
  type TranscriptionEntry,
} from './cassette.js';
import type { ChatRequest } from './chat-replay.js';
import { encodeFingerprint } from './fingerprint.js';
import { HttpError } from './http-io.js';
import { renderTranscription, type Reply, type Upload } from './transcription-replay.js';
import type { TranscriptionRequest } from './transcription-request.js';

export interface Upstream {
  /** Base URL the service's paths (/v1/...) are appended to, e.g. https://api.eu.mistral.ai. */
  url: string;
  /** Sent as a Bearer token; when absent the client's own Authorization header is forwarded. */
  apiKey?: string;
  timeoutMs?: number;
}

export class Recorder {
  #cassette: Cassette | null = null;
  #writes: Promise<void> = Promise.resolve();
  recorded = 0;

  constructor(
    private readonly provider: Provider,
    private readonly upstream: Upstream,
    /** Cassette file the recordings go to (created if missing, entries merged if present). */
    readonly path: string,
  ) {}

  async transcription(tr: TranscriptionRequest, upload: Upload, clientAuth: string | undefined): Promise<Reply> {
    const form = new FormData();
    const granularityKey = this.provider === 'openai' ? 'timestamp_granularities[]' : 'timestamp_granularities';
    for (const [k, v] of tr.fields) {
      if (k === 'response_format' || k === 'timestamp_granularities[]' || k === 'timestamp_granularities') continue;
      form.append(k, v);
    }
    // Always record the richest answer (timed segments); the client still gets the format it asked for.
    if (this.provider === 'openai') form.append('response_format', 'verbose_json');
    for (const g of new Set(['segment', ...tr.granularities])) form.append(granularityKey, g);
    form.append('file', new Blob([new Uint8Array(tr.file.bytes)], { type: tr.file.type }), tr.file.name);

    const res = await this.#forward('/v1/audio/transcriptions', form, undefined, clientAuth);
    if (res.status !== 200) return relay(res.status, res.contentType, res.body, res.retryAfter);

    const schema = this.provider === 'openai' ? OpenAiVerboseTranscription : MistralTranscription;
    const parsed = schema.safeParse(safeJson(res.body));
    if (!parsed.success) throw new HttpError(502, 'upstream answered 200 with a body that is not a transcription in the expected format', 'bad_gateway');
    const response = parsed.data;
    const language = tr.language ?? ('task' in response ? 'und' : ((response as MistralTranscription).language ?? 'und'));

    if (upload.silent) {
      const id = `${this.provider}-silence-${tr.model}-${language}`;
      const entry = { id, origin: 'recorded', provider: this.provider, model: tr.model, language, response } as SilenceEntry;
      await this.#write((c) => {
        c.onSilence = [...c.onSilence.filter((e) => e.id !== id), entry];
      });
    } else {
      const data = encodeFingerprint(upload.fingerprint);
      const id = `${this.provider}-rec-${createHash('sha256').update(data).update(tr.model).digest('hex').slice(0, 16)}`;
      const entry = {
        id,
        origin: 'recorded',
        provider: this.provider,
        model: tr.model,
        language,
        audio: {
          label: `upload ${tr.file.name}`,
          durationSec: Math.round(upload.durationSec * 1000) / 1000,
          fingerprint: { frameMs: upload.fingerprint.frameMs, frames: upload.fingerprint.frames.length, data },
        },
        response,
      } as TranscriptionEntry;
      await this.#write((c) => {
        c.transcriptions = [...c.transcriptions.filter((e) => e.id !== id), entry];
      });
    }
    return renderTranscription(tr, response);
  }

  async chat(req: ChatRequest, clientAuth: string | undefined): Promise<Reply> {
    const res = await this.#forward('/v1/chat/completions', req.raw, 'application/json', clientAuth);
    if (res.status !== 200) return relay(res.status, res.contentType, res.body, res.retryAfter);
    const parsed = ChatResponse.safeParse(safeJson(res.body));
    if (!parsed.success) throw new HttpError(502, 'upstream answered 200 with a body that is not a chat completion', 'bad_gateway');
    const { key } = req;
    const entry: ChatEntry = {
      id: `chat-${key.digest.slice(0, 16)}${key.schemaName ? `-${key.schemaName}` : ''}`,
      origin: 'recorded',
      model: key.model,
      schemaName: key.schemaName,
      digest: key.digest,
      request: key.text,
      response: parsed.data,
    };
    await this.#write((c) => {
      c.chat = [...c.chat.filter((e) => !(e.digest === key.digest && e.model === key.model && e.schemaName === key.schemaName)), entry];
    });
    // The client gets the upstream bytes untouched.
    return { status: 200, contentType: res.contentType, body: res.body };
  }

  async #forward(path: string, body: FormData | Buffer, contentType: string | undefined, clientAuth: string | undefined) {
    const base = this.upstream.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (contentType) headers['content-type'] = contentType;
    const auth = this.upstream.apiKey ? `Bearer ${this.upstream.apiKey}` : clientAuth;
    if (auth) headers.authorization = auth;
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers,
        body: body instanceof FormData ? body : new Uint8Array(body),
        signal: AbortSignal.timeout(this.upstream.timeoutMs ?? 300_000),
      });
    } catch (e) {
      throw new HttpError(502, `upstream ${new URL(base).origin} unreachable: ${(e as Error).message}`, 'bad_gateway');
    }
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? 'application/json',
      retryAfter: res.headers.get('retry-after'),
      body: await res.text(),
    };
  }

  /** Applies a change to the cassette file, one change at a time. */
  #write(change: (c: Cassette) => void): Promise<void> {
    const next = this.#writes.then(async () => {
      const c = await this.#load();
      change(c);
      await saveCassette(this.path, c);
      this.recorded++;
    });
    this.#writes = next.catch(() => undefined);
    return next.catch((e: unknown) => {
      throw new HttpError(500, `record mode could not write the cassette: ${(e as Error).message}`, 'server_error');
    });
  }

  async #load(): Promise<Cassette> {
    if (this.#cassette) return this.#cassette;
    const note = `Recorded from ${new URL(this.upstream.url).origin} (${this.provider}) by src/replay in record mode, ${new Date().toISOString().slice(0, 10)}.`;
    const c = existsSync(this.path) ? await loadCassette(this.path) : emptyCassette(this.path.replace(/^.*\//, '').replace(/\.json$/, ''), note);
    // Recordings of this provider replace entries generated from ground truth.
    const before = c.transcriptions.length + c.chat.length;
    c.transcriptions = c.transcriptions.filter((e) => !(e.provider === this.provider && e.origin === 'ground-truth'));
    c.onSilence = c.onSilence.filter((e) => !(e.provider === this.provider && e.origin === 'ground-truth'));
    if (this.provider === 'mistral') c.chat = c.chat.filter((e) => e.origin !== 'ground-truth');
    const kept = c.transcriptions.length + c.chat.length;
    if (c.source !== note) c.source = kept > 0 && before > 0 ? `${c.source}\n${note}` : note;
    this.#cassette = c;
    return c;
  }
}

function relay(status: number, contentType: string, body: string, retryAfter: string | null): Reply {
  return { status, contentType, body, ...(retryAfter ? { headers: { 'retry-after': retryAfter } } : {}) };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
