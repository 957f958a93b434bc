/**
 * Local HTTP replay server for the paid AI services, speaking their real protocols.
 *
 * One instance plays one provider, because OpenAI-compatible and Mistral transcription share the
 * path /v1/audio/transcriptions:
 *   provider "openai":  POST /v1/audio/transcriptions           (route openai.transcriptions)
 *   provider "mistral": POST /v1/audio/transcriptions           (route mistral.transcriptions)
 *                       POST /v1/chat/completions               (route mistral.chat)
 * plus the admin routes /__replay/faults (GET, POST adds, DELETE clears), /__replay/stats and
 * /__replay/unmatched. Nothing of a request's content is logged.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { ZodError } from 'zod';
import { loadCassette, type ChatEntry, type Provider, type SilenceEntry, type TranscriptionEntry } from './cassette.js';
import { answerChat, parseChatRequest } from './chat-replay.js';
import { FaultInjector, type FaultRuleInput, type FaultView, type RouteName } from './faults.js';
import { DEFAULT_SILENCE_FLOOR_DB } from './fingerprint.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorBody, faultMessage, HttpError, readBody, send, sendError, sendJson } from './http-io.js';
import { Recorder, type Upstream } from './recorder.js';
import { checkEntryFingerprint, DEFAULT_MATCH_OPTIONS, type MatchMethod, type MatchOptions } from './transcription-match.js';
import { analyseUpload, answerTranscription, type Reply } from './transcription-replay.js';
import { parseTranscriptionRequest, type TranscriptionRequest } from './transcription-request.js';
import { scriptedChatReply, scriptedTranscriptionReply, type RouteScript, type ScriptedCall } from './scripted.js';

export type ReplayMode = 'replay' | 'record';

export interface ReplayLogEvent {
  route: RouteName | 'admin' | 'unknown';
  status: number | 'dropped';
  ms: number;
  /** matched, silence, unmatched, recorded, fault, invalid... never content. */
  outcome: string;
  entryId?: string;
  /** A matched transcription's score and method (see transcription-match.ts). */
  match?: { score: number; method: MatchMethod };
}

export interface ReplayServerOptions {
  provider: Provider;
  /** Cassette files to replay from (all entries are merged). */
  cassettes?: readonly string[];
  mode?: ReplayMode;
  /** Required in record mode. */
  upstream?: Upstream;
  /** Record mode: the cassette file recordings are written to (default: the first of `cassettes`). */
  recordTo?: string;
  faults?: readonly FaultRuleInput[];
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  match?: Partial<MatchOptions>;
  /** Answers in order per route, whatever the request (scripted.ts); takes precedence over cassettes there. */
  scripts?: Partial<Record<RouteName, RouteScript>>;
  /** An upload none of whose 20 ms frames reaches this level (dBFS) counts as silence. */
  silenceFloorDb?: number;
  /** Refuse requests without a Bearer token with 401, as the real service does. Default: true for mistral. */
  requireAuth?: boolean;
  maxBodyBytes?: number;
  /** Called once per request with metadata only. */
  onRequest?: (e: ReplayLogEvent) => void;
  /** Called for every request no cassette entry matched (tests can fail fast on it). */
  onUnmatched?: (u: UnmatchedRequest) => void;
  /**
   * Folder to keep every transcription upload in, to study matches offline: one subfolder per
   * server, `<n>-<outcome>.<ext>` (the uploaded bytes) and `<n>-<outcome>.json` (duration, entry,
   * score, method, offset, or the closest miss); scripts/replay-match-study.ts re-scores them. Default: the REPLAY_DUMP_DIR environment variable, else nothing is kept. Test
   * tooling only: it writes the uploaded audio to disk.
   */
  dumpUploadsTo?: string;
}

export interface UnmatchedRequest {
  route: RouteName;
  at: string;
  /** What the request was looked up by (no content). */
  lookedFor: Record<string, unknown>;
  /** The nearest recorded entry and how far it was. */
  closest: Record<string, unknown> | null;
  /** For chat: the normalised texts around the first difference. Meeting content: in memory only. */
  excerpt?: { recorded: string; request: string };
}

export interface ReplayStats {
  calls: Record<string, number>;
  matched: Record<string, number>;
  silence: Record<string, number>;
  unmatched: Record<string, number>;
  faults: Record<string, number>;
  dropped: Record<string, number>;
  recorded: number;
}

export interface ReplayServer {
  readonly url: string;
  readonly port: number;
  readonly provider: Provider;
  readonly mode: ReplayMode;
  /** Requests no entry matched, oldest first. */
  readonly unmatched: readonly UnmatchedRequest[];
  close(): Promise<void>;
  /** Replaces every fault rule. */
  setFaults(rules: FaultRuleInput | readonly FaultRuleInput[]): void;
  addFaults(rules: FaultRuleInput | readonly FaultRuleInput[]): void;
  clearFaults(): void;
  faults(): FaultView[];
  /** Answers a `hold` fault is holding now. */
  readonly held: number;
  /** Lets every held answer go (in arrival order); returns how many were released. */
  releaseHeld(): number;
  stats(): ReplayStats;
  /** The calls a scripted route answered, in order (metadata only). */
  scriptedCalls(route: RouteName): readonly ScriptedCall[];
}

/** Answer status for "no cassette entry matches": outside the range any client retries. */
export const UNMATCHED_STATUS = 599;

const ROUTE_TABLE: Record<Provider, Record<string, RouteName>> = {
  openai: { '/v1/audio/transcriptions': 'openai.transcriptions' },
  mistral: { '/v1/audio/transcriptions': 'mistral.transcriptions', '/v1/chat/completions': 'mistral.chat' },
};

export async function startReplayServer(options: ReplayServerOptions): Promise<ReplayServer> {
  const { provider } = options;
  const mode = options.mode ?? 'replay';
  const matchOpts: MatchOptions = { ...DEFAULT_MATCH_OPTIONS, ...options.match };
  const silenceFloorDb = options.silenceFloorDb ?? DEFAULT_SILENCE_FLOOR_DB;
  const requireAuth = options.requireAuth ?? provider === 'mistral';
  const maxBodyBytes = options.maxBodyBytes ?? 100 * 1024 * 1024;

  const transcriptions: TranscriptionEntry[] = [];
  const onSilence: SilenceEntry[] = [];
  const chat: ChatEntry[] = [];
  for (const path of options.cassettes ?? []) {
    const c = await loadCassette(path);
    for (const e of c.transcriptions) {
      const problem = checkEntryFingerprint(e);
      if (problem) throw new Error(`cassette ${path}: ${problem}`);
    }
    transcriptions.push(...c.transcriptions);
    onSilence.push(...c.onSilence);
    chat.push(...c.chat);
  }

  let recorder: Recorder | null = null;
  if (mode === 'record') {
    if (!options.upstream) throw new Error('record mode needs an upstream { url, apiKey }');
    const target = options.recordTo ?? options.cassettes?.[0];
    if (!target) throw new Error('record mode needs recordTo (or a cassette path) to write to');
    recorder = new Recorder(provider, options.upstream, target);
  }

  const injector = new FaultInjector();
  if (options.faults) injector.add(options.faults);

  const scripted = new Map<RouteName, ScriptedCall[]>();
  const unmatched: UnmatchedRequest[] = [];
  const held: (() => void)[] = [];
  const releaseHeld = (): number => held.splice(0).map((release) => release()).length;
  const counters = { calls: {}, matched: {}, silence: {}, unmatched: {}, faults: {}, dropped: {} } as Omit<ReplayStats, 'recorded'>;
  const bump = (k: keyof typeof counters, route: string) => {
    counters[k][route] = (counters[k][route] ?? 0) + 1;
  };
  const stats = (): ReplayStats => ({ ...structuredClone(counters), recorded: recorder?.recorded ?? 0 });

  const dumpRoot = options.dumpUploadsTo ?? process.env.REPLAY_DUMP_DIR;
  const dumpDir = dumpRoot ? join(dumpRoot, `${new Date().toISOString().replace(/[:.]/g, '')}-${provider}-${randomUUID().slice(0, 4)}`) : undefined;
  let dumped = 0;
  const dumpUpload = (tr: TranscriptionRequest, outcome: string, info: Record<string, unknown>) => {
    if (!dumpDir) return;
    const name = `${String(++dumped).padStart(4, '0')}-${outcome}`;
    const ext = /\.([a-z0-9]{2,5})$/i.exec(tr.file.name)?.[1] ?? 'bin';
    mkdirSync(dumpDir, { recursive: true });
    writeFileSync(join(dumpDir, `${name}.${ext}`), tr.file.bytes);
    writeFileSync(join(dumpDir, `${name}.json`), `${JSON.stringify({ at: new Date().toISOString(), outcome, ...info }, null, 2)}\n`);
  };

  const noteUnmatched = (u: UnmatchedRequest) => {
    unmatched.push(u);
    bump('unmatched', u.route);
    options.onUnmatched?.(u);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<ReplayLogEvent> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/__replay/')) return admin(path, req, res);

    const route = ROUTE_TABLE[provider][path];
    if (!route) {
      await readBody(req, maxBodyBytes).catch(() => undefined);
      sendError(res, provider, new HttpError(404, `no route ${req.method} ${path} on the ${provider} replay server`, 'not_found'));
      return { route: 'unknown', status: 404, ms: 0, outcome: 'not-found' };
    }
    if (req.method !== 'POST') {
      sendError(res, provider, new HttpError(405, `${route} accepts POST only`, 'invalid_request_error'));
      return { route, status: 405, ms: 0, outcome: 'invalid' };
    }
    bump('calls', route);

    const fault = injector.decide(route);
    if (fault.kind === 'drop') {
      bump('faults', route);
      bump('dropped', route);
      await dropMidRequest(req, fault.latencyMs);
      return { route, status: 'dropped', ms: 0, outcome: 'fault' };
    }
    const body = await readBody(req, maxBodyBytes);
    if (fault.hold) {
      if (fault.kind === 'none') bump('faults', route);
      await new Promise<void>((release) => held.push(release));
    }
    if (fault.latencyMs > 0) await sleep(fault.latencyMs);
    if (fault.kind === 'status') {
      bump('faults', route);
      const { message, type } = faultMessage(fault.status);
      const headers: Record<string, string> = {
        ...(fault.retryAfterSec !== undefined ? { 'retry-after': String(fault.retryAfterSec) } : {}),
        ...(fault.location !== undefined ? { location: fault.location } : {}),
      };
      sendJson(res, fault.status, errorBody(provider, new HttpError(fault.status, message, type)), headers);
      return { route, status: fault.status, ms: 0, outcome: 'fault' };
    }

    const auth = req.headers.authorization;
    if (requireAuth && !/^Bearer\s+\S+/i.test(auth ?? '')) {
      throw new HttpError(401, 'Unauthorized: missing Bearer token', 'authentication_error');
    }

    const script = options.scripts?.[route];
    if (script) {
      const calls = scripted.get(route) ?? [];
      scripted.set(route, calls);
      const index = calls.length;
      if (script.kind === 'chat') {
        const { key, raw } = parseChatRequest(req.headers['content-type'], body);
        const maxTokens = (JSON.parse(raw.toString('utf8')) as { max_tokens?: unknown }).max_tokens;
        calls.push({ index, maxTokens: typeof maxTokens === 'number' ? maxTokens : null, digest: key.digest });
        return reply(res, route, scriptedChatReply(script.answers, index, key.model), 'scripted');
      }
      const tr = await parseTranscriptionRequest(provider, req.headers['content-type'], body);
      calls.push({ index, maxTokens: null, digest: null });
      // Energy answers depend on the sound of the upload.
      const upload = 'mode' in script.script && script.script.mode === 'energy' ? await analyseUpload(tr, silenceFloorDb) : null;
      return reply(res, route, scriptedTranscriptionReply(script.script, index, tr, upload), 'scripted');
    }

    if (route === 'mistral.chat') {
      const chatReq = parseChatRequest(req.headers['content-type'], body);
      if (recorder) return reply(res, route, await recorder.chat(chatReq, auth), 'recorded');
      const outcome = answerChat(chatReq, chat);
      if (outcome.kind === 'matched') {
        bump('matched', route);
        return reply(res, route, outcome.reply, 'matched', outcome.entryId);
      }
      const { key } = chatReq;
      const lookedFor = { model: key.model, schemaName: key.schemaName, digest: key.digest, messages: key.text.split('\n').length, chars: key.text.length };
      const closest = outcome.closest ? { ...outcome.closest, excerpt: undefined } : null;
      noteUnmatched({ route, at: new Date().toISOString(), lookedFor, closest, ...(outcome.closest ? { excerpt: outcome.closest.excerpt } : {}) });
      throw unmatchedError(route, lookedFor, closest, `no recorded chat completion for this request among ${chat.length} entries`);
    }

    const tr = await parseTranscriptionRequest(provider, req.headers['content-type'], body);
    const upload = await analyseUpload(tr, silenceFloorDb);
    if (recorder) return reply(res, route, await recorder.transcription(tr, upload, auth), 'recorded');
    const outcome = answerTranscription(tr, upload, { transcriptions, onSilence }, matchOpts);
    const durationSec = Math.round(upload.durationSec * 1000) / 1000;
    if (outcome.kind === 'silence') {
      dumpUpload(tr, 'silence', { durationSec });
      bump('silence', route);
      return reply(res, route, outcome.reply, 'silence', outcome.entryId ?? undefined);
    }
    if (outcome.kind === 'matched') {
      dumpUpload(tr, 'matched', { durationSec, entryId: outcome.entryId, score: outcome.score, method: outcome.method, fromSec: outcome.fromSec });
      bump('matched', route);
      return { ...reply(res, route, outcome.reply, 'matched', outcome.entryId), match: { score: outcome.score, method: outcome.method } };
    }
    const lookedFor = {
      model: tr.model,
      language: tr.language,
      durationSec: Math.round(outcome.upload.durationSec * 1000) / 1000,
      frames: outcome.upload.fingerprint.frames.length,
      candidates: outcome.miss.candidates,
      minScore: matchOpts.minScore,
      minInside: matchOpts.minInside,
    };
    dumpUpload(tr, 'unmatched', { durationSec, closest: outcome.miss.closest });
    noteUnmatched({ route, at: new Date().toISOString(), lookedFor, closest: outcome.miss.closest });
    throw unmatchedError(
      route,
      lookedFor,
      outcome.miss.closest,
      outcome.miss.candidates === 0
        ? `no recorded transcription for provider ${provider}, model ${tr.model}, language ${tr.language ?? '(any)'}`
        : `the uploaded audio matches no recorded audio (best score ${outcome.miss.closest?.score ?? 'n/a'} < ${matchOpts.minScore})`,
    );
  }

  function reply(res: ServerResponse, route: RouteName, r: Reply, outcome: string, entryId?: string): ReplayLogEvent {
    send(res, r.status, r.contentType, r.body, r.headers);
    return { route, status: r.status, ms: 0, outcome, ...(entryId ? { entryId } : {}) };
  }

  async function admin(path: string, req: IncomingMessage, res: ServerResponse): Promise<ReplayLogEvent> {
    const body = await readBody(req, 1024 * 1024);
    const done = (status: number, value: unknown): ReplayLogEvent => {
      sendJson(res, status, value);
      return { route: 'admin', status, ms: 0, outcome: 'admin' };
    };
    if (path === '/__replay/faults') {
      if (req.method === 'GET') return done(200, { faults: injector.list() });
      if (req.method === 'DELETE') {
        injector.clear();
        return done(200, { faults: [] });
      }
      if (req.method === 'POST' || req.method === 'PUT') {
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8'));
        } catch {
          return done(400, { error: 'body is not JSON' });
        }
        try {
          if (req.method === 'PUT') injector.set(json);
          else injector.add(json);
        } catch (e) {
          return done(400, { error: e instanceof ZodError ? e.issues.map((i) => `${i.path.join('.') || 'rule'}: ${i.message}`).join('; ') : String(e) });
        }
        return done(200, { faults: injector.list() });
      }
    }
    if (path === '/__replay/release' && req.method === 'POST') return done(200, { released: releaseHeld() });
    if (path === '/__replay/stats' && req.method === 'GET') return done(200, stats());
    if (path === '/__replay/unmatched' && req.method === 'GET') return done(200, { unmatched: unmatched.map(({ excerpt: _e, ...u }) => u) });
    return done(404, { error: `no admin route ${req.method} ${path}` });
  }

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const t0 = performance.now();
    handle(req, res)
      .catch((e: unknown): ReplayLogEvent => {
        const route = ROUTE_TABLE[provider][(req.url ?? '').split('?')[0] ?? ''] ?? 'unknown';
        const err = e instanceof HttpError ? e : new HttpError(500, `replay server error: ${(e as Error).message}`, 'server_error');
        sendError(res, provider, err);
        return { route, status: err.status, ms: 0, outcome: err.status === UNMATCHED_STATUS ? 'unmatched' : 'error' };
      })
      .then((ev) => options.onRequest?.({ ...ev, ms: Math.round(performance.now() - t0) }))
      .catch(() => undefined);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  const asArray = (r: FaultRuleInput | readonly FaultRuleInput[]) => (Array.isArray(r) ? r : [r]);
  return {
    url: `http://${host}:${port}`,
    port,
    provider,
    mode,
    get unmatched() {
      return unmatched;
    },
    // Idempotent: a test may close a server early and its cleanup close it again.
    close: () =>
      new Promise<void>((resolve) => {
        releaseHeld();
        if (!server.listening) return resolve();
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
    setFaults: (r) => injector.set(asArray(r)),
    addFaults: (r) => injector.add(asArray(r)),
    clearFaults: () => injector.clear(),
    faults: () => injector.list(),
    get held() {
      return held.length;
    },
    releaseHeld,
    stats,
    scriptedCalls: (route) => scripted.get(route) ?? [],
  };
}

function unmatchedError(route: RouteName, lookedFor: Record<string, unknown>, closest: Record<string, unknown> | null, why: string): HttpError {
  return new HttpError(UNMATCHED_STATUS, `replay: ${route}: ${why}`, 'replay_unmatched', null, { route, lookedFor, closest });
}

/** Waits for the request to start arriving (or the latency), then destroys the socket under it. */
async function dropMidRequest(req: IncomingMessage, latencyMs: number): Promise<void> {
  if (latencyMs > 0) await sleep(latencyMs);
  await new Promise<void>((resolve) => {
    if (req.readableEnded) return resolve();
    req.once('data', () => resolve());
    req.once('end', () => resolve());
    setTimeout(resolve, 50);
  });
  req.socket.destroy();
}
