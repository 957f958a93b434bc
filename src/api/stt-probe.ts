/**
 * Before sending an agent into a room, the API checks that speech-to-text answers: an agent that
 * cannot transcribe would sit in the meeting and produce an empty transcript. The answer is cached
 * (30 s when healthy, 5 s when not) and shared by concurrent starts, so a busy API does not turn
 * into a load test of the speech-to-text provider.
 */
import { sttProbeFailures } from '../metrics.js';

/** Anything that resolves when speech-to-text is usable and rejects (with the reason) when not. */
export interface SpeechToTextProbe {
  probe(signal?: AbortSignal): Promise<void>;
}

/** `reason` may be shown to callers; `detail` (with endpoints) is for the operator's log. */
export type ProbeResult = { ok: true } | { ok: false; reason: string; detail: string };

export interface CachedProbeOptions {
  okTtlMs?: number;
  failureTtlMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

export class CachedSttProbe {
  #cached: { result: ProbeResult; until: number } | undefined;
  #inFlight: Promise<ProbeResult> | undefined;
  readonly #okTtl: number;
  readonly #failureTtl: number;
  readonly #timeout: number;
  readonly #now: () => number;

  constructor(
    private readonly target: SpeechToTextProbe,
    options: CachedProbeOptions = {},
  ) {
    this.#okTtl = options.okTtlMs ?? 30_000;
    this.#failureTtl = options.failureTtlMs ?? 5_000;
    this.#timeout = options.timeoutMs ?? 5_000;
    this.#now = options.now ?? (() => performance.now());
  }

  async check(): Promise<ProbeResult> {
    if (this.#cached && this.#cached.until > this.#now()) return this.#cached.result;
    this.#inFlight ??= this.#run().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #run(): Promise<ProbeResult> {
    const result = await this.#probeOnce();
    if (!result.ok) sttProbeFailures.inc();
    this.#cached = { result, until: this.#now() + (result.ok ? this.#okTtl : this.#failureTtl) };
    return result;
  }

  async #probeOnce(): Promise<ProbeResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.#timeout} ms`)), this.#timeout);
    try {
      await Promise.race([
        this.target.probe(controller.signal),
        new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error))),
      ]);
      return { ok: true };
    } catch (e) {
      return { ok: false, ...describeFailure(e) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The reason told to the caller: the probe's message without endpoints (those are for operators). */
function describeFailure(e: unknown): { reason: string; detail: string } {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const message = err instanceof Error ? err.message : String(e);
  const code = err?.cause?.code;
  const reason = message.includes('speech-to-text')
    ? message
    : `the speech-to-text service is unreachable${code ? ` (${code})` : `: ${message}`}`;
  return {
    reason: reason.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s)]+/gi, 'the configured endpoint').replace(/[.\s]+$/, '').slice(0, 300),
    detail: message.slice(0, 500),
  };
}
