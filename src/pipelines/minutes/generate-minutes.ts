/**
 * Transcript → minutes. Short meetings: one model call. Above the token budget: the transcript is
 * cut between turns, the parts are summarised in parallel (bounded), and one more call merges
 * them, so the chain of calls that wait on one another is 2 deep whatever the length. A cut-off
 * answer (finish_reason=length) is asked again with four times the output budget, never re-sent
 * unchanged; other invalid output gets one repair attempt; then a MinutesError: partial minutes are
 * never returned. Minutes JSON wrapped in one Markdown code fence is read as the JSON it wraps.
 * No speech, or too little, gives an honest note and no model call at all.
 */
import pMap from 'p-map';
import { createLogger } from '../../logging.js';
import { wordCount, type Transcript } from '../transcript/transcript.js';
import type { ChatAnswer, ChatCall, ChatMessage, MinutesChat } from './mistral-chat.js';
import { MINUTES_SCHEMA_VERSION, MinutesDraftSchema, MinutesSchema, type Minutes, type MinutesDraft, type TokenUsage } from './minutes-schema.js';
import { fillPrompt, loadPrompt, PROMPT_VERSION, promptLanguage, type PromptLanguage } from './prompts.js';
import { checkedDraft, DraftResolver } from './resolve-draft.js';
import { TokenEstimator } from './token-estimate.js';
import { participantLines, splitAtTurns, transcriptLines } from './transcript-text.js';

const log = createLogger('minutes');

export class MinutesError extends Error {
  constructor(
    message: string,
    readonly reason: 'invalid_output' | 'model_error',
  ) {
    super(message);
    this.name = 'MinutesError';
  }
}

export interface GenerateMinutesOptions {
  chat: MinutesChat;
  /** Model id, recorded in the minutes. */
  model: string;
  /** Above this many estimated prompt tokens, split and merge (MINUTES_TOKEN_BUDGET). */
  tokenBudget: number;
  /** Part calls in flight at once. */
  concurrency?: number;
  estimator?: TokenEstimator;
  /** Fewer spoken words than this: the honest note instead of minutes. */
  minWords?: number;
  /** max_tokens of a call (DEFAULT_OUTPUT_TOKENS); a cut-off answer is asked again with OUTPUT_BUDGET_GROWTH times more. */
  outputTokens?: number;
  now?: () => Date;
}

export const DEFAULT_MIN_WORDS = 25;
/**
 * Output budget of one call: 4,096 tokens are about 14,000 characters at the 3.5 characters per
 * token of token-estimate.ts, some five times the largest minutes in fixtures/cassettes (2,491
 * characters); a cut-off answer gets 4x (16,384), still far below the models' context.
 */
export const DEFAULT_OUTPUT_TOKENS = 4096;
export const OUTPUT_BUDGET_GROWTH = 4;
export const DEFAULT_PART_CONCURRENCY = 3;

function describeIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 8)
    .map((i) => `${i.path.map(String).join('.') || '(racine)'}: ${i.message}`)
    .join('; ');
}

/**
 * The JSON text of an answer: the whole content, or what one Markdown code fence around the whole
 * content holds (```json … ``` as chat models often write it). Prose around the fence, or a fence
 * around part of the answer, is left as is (and is then not valid JSON).
 */
export function unfence(content: string): string {
  const m = /^\s*```[a-zA-Z]*[ \t]*\r?\n([\s\S]*?)\r?\n[ \t]*```\s*$/.exec(content);
  return m && !m[1]?.includes('```') ? (m[1] ?? '') : content;
}

/** Parses an answer; returns the draft or a description of what is wrong (no content in it). */
export function parseDraft(answer: ChatAnswer): { draft: MinutesDraft } | { problem: string } {
  if (answer.finishReason !== 'stop') {
    return { problem: answer.finishReason === 'length' ? 'the answer was cut off (finish_reason=length); it must be complete JSON' : `finish_reason=${answer.finishReason}` };
  }
  if (answer.content === null || answer.content.trim() === '') return { problem: 'the answer is empty' };
  let json: unknown;
  try {
    json = JSON.parse(unfence(answer.content));
  } catch (e) {
    return { problem: `the answer is not valid JSON (${(e as Error).message.slice(0, 120)})` };
  }
  const parsed = MinutesDraftSchema.safeParse(json);
  return parsed.success ? { draft: parsed.data } : { problem: describeIssues(parsed.error) };
}

class Run {
  calls = 0;
  repaired = false;
  readonly usage: TokenUsage = { promptTokens: 0, completionTokens: 0, estimatedPromptTokens: 0 };
  readonly estimator: TokenEstimator;

  constructor(
    private readonly opts: GenerateMinutesOptions,
    private readonly lang: PromptLanguage,
    private readonly meetingId: string,
  ) {
    this.estimator = opts.estimator ?? new TokenEstimator();
  }

  async #call(call: ChatCall): Promise<ChatAnswer> {
    const chars = call.messages.reduce((n, m) => n + m.content.length, 0);
    const estimated = this.estimator.estimate(call.messages.map((m) => m.content).join('\n'));
    this.calls++;
    const t0 = performance.now();
    let answer: ChatAnswer;
    try {
      answer = await this.opts.chat(call);
    } catch (e) {
      // The SDK already retried 429/5xx; what reaches here is final. Its message names a status, not content.
      throw new MinutesError(`Mistral call failed: ${(e as Error).message.slice(0, 300)}`, 'model_error');
    }
    this.usage.promptTokens += answer.promptTokens;
    this.usage.completionTokens += answer.completionTokens;
    this.usage.estimatedPromptTokens += estimated;
    const observed = this.estimator.calibrate(chars, answer.promptTokens);
    log.info(
      { meetingId: this.meetingId, purpose: call.purpose, ms: Math.round(performance.now() - t0), estimated, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens, charsPerToken: observed },
      'minutes model call',
    );
    return answer;
  }

  /**
   * One call; a cut-off answer is asked again, the same messages with OUTPUT_BUDGET_GROWTH times the
   * output budget; other invalid output gets one repair attempt. Returns the depth used.
   */
  async draft(messages: ChatMessage[], purpose: ChatCall['purpose']): Promise<{ draft: MinutesDraft; depth: number }> {
    const budget = this.opts.outputTokens ?? DEFAULT_OUTPUT_TOKENS;
    let answer = await this.#call({ messages, purpose, maxTokens: budget });
    let depth = 1;
    if (answer.finishReason === 'length') {
      const larger = budget * OUTPUT_BUDGET_GROWTH;
      log.warn({ meetingId: this.meetingId, purpose, maxTokens: budget, retryMaxTokens: larger }, 'minutes answer cut off; asking again with a larger output budget');
      answer = await this.#call({ messages, purpose, maxTokens: larger });
      depth = 2;
      if (answer.finishReason === 'length') {
        throw new MinutesError(`the model's minutes were cut off (finish_reason=length) twice (${purpose}), the second time with ${larger} output tokens`, 'invalid_output');
      }
    }
    const parsed = parseDraft(answer);
    if ('draft' in parsed) return { draft: parsed.draft, depth };
    log.warn({ meetingId: this.meetingId, purpose, finishReason: answer.finishReason }, 'invalid minutes output; one repair attempt');
    this.repaired = true;
    const repair: ChatMessage[] = [
      ...messages,
      { role: 'assistant', content: answer.content ?? '' },
      { role: 'user', content: fillPrompt(loadPrompt('repair', this.lang), { errors: parsed.problem }) },
    ];
    const second = parseDraft(await this.#call({ messages: repair, purpose: 'repair', maxTokens: budget * OUTPUT_BUDGET_GROWTH }));
    if ('draft' in second) return { draft: second.draft, depth: depth + 1 };
    throw new MinutesError(`the model's minutes were invalid twice (${purpose}): ${second.problem}`, 'invalid_output');
  }
}

export function systemPrompt(transcript: Transcript): string {
  return fillPrompt(loadPrompt('system', promptLanguage(transcript.language)), { participants: participantLines(transcript) });
}

function noSpeechMinutes(transcript: Transcript, words: number, now: Date): Minutes {
  const en = promptLanguage(transcript.language) === 'en';
  const none = transcript.turns.length === 0;
  const summary = en
    ? none
      ? 'No speech was transcribed during this meeting, so there are no minutes to write.'
      : `Too little was said (${words} words transcribed) to write reliable minutes. The transcript holds everything that was said.`
    : none
      ? 'Aucune parole n’a été transcrite pendant cette réunion : il n’y a pas de compte rendu à établir.'
      : `Trop peu de paroles ont été transcrites (${words} mots) pour établir un compte rendu fiable. La transcription jointe contient tout ce qui a été dit.`;
  return MinutesSchema.parse({
    schemaVersion: MINUTES_SCHEMA_VERSION,
    meetingId: transcript.meetingId,
    language: transcript.language,
    kind: 'no-speech',
    title: en ? 'Meeting without minutes' : 'Réunion sans compte rendu',
    summary,
    participants: participantsOf(transcript),
    topics: [],
    decisions: [],
    actionItems: [],
    openQuestions: [],
    generation: {
      generatedAt: now.toISOString(),
      model: null,
      promptVersion: PROMPT_VERSION,
      calls: 0,
      sequentialDepth: 0,
      parts: 0,
      repaired: false,
      usage: { promptTokens: 0, completionTokens: 0, estimatedPromptTokens: 0 },
      droppedCitations: 0,
      droppedOwners: 0,
      ambiguousOwners: 0,
      droppedItems: 0,
      removedContactDetails: 0,
      transcriptComplete: transcript.completeness.complete,
    },
  });
}

function participantsOf(transcript: Transcript): Minutes['participants'] {
  return transcript.participants.map((p) => ({ identity: p.identity, name: p.name, spoke: p.turns > 0 }));
}

export async function generateMinutes(transcript: Transcript, opts: GenerateMinutesOptions): Promise<Minutes> {
  const now = opts.now ?? (() => new Date());
  const words = wordCount(transcript);
  if (words < (opts.minWords ?? DEFAULT_MIN_WORDS)) return noSpeechMinutes(transcript, words, now());

  const lang = promptLanguage(transcript.language);
  const run = new Run(opts, lang, transcript.meetingId);
  const system = systemPrompt(transcript);
  const whole = fillPrompt(loadPrompt('user', lang), { transcript: transcriptLines(transcript.turns) });
  const estimate = (text: string) => run.estimator.estimate(text);

  let draft: MinutesDraft;
  let depth: number;
  let parts = 1;
  if (estimate(system) + estimate(whole) <= opts.tokenBudget) {
    ({ draft, depth } = await run.draft([{ role: 'system', content: system }, { role: 'user', content: whole }], 'minutes'));
  } else {
    // Room for the transcript in one part: the budget minus the fixed prompt text, with a margin.
    const overhead = estimate(system) + estimate(loadPrompt('part', lang)) + 64;
    const pieces = splitAtTurns(transcript.turns, Math.max(500, opts.tokenBudget - overhead), estimate);
    parts = pieces.length;
    log.info({ meetingId: transcript.meetingId, parts, turns: transcript.turns.length }, 'transcript above the token budget; split and merge');
    const partDrafts = await pMap(pieces, (turns, i) =>
      run.draft(
        [
          { role: 'system', content: system },
          {
            role: 'user',
            content: fillPrompt(loadPrompt('part', lang), {
              part: i + 1,
              parts: pieces.length,
              firstTurn: turns[0]?.id ?? '',
              lastTurn: turns.at(-1)?.id ?? '',
              transcript: transcriptLines(turns),
            }),
          },
        ],
        'part',
      ),
      { concurrency: opts.concurrency ?? DEFAULT_PART_CONCURRENCY },
    );
    const drafts = partDrafts.map((p, i) => ({ part: i + 1, ...checkedDraft(p.draft, transcript) }));
    const merged = await run.draft(
      [
        { role: 'system', content: system },
        { role: 'user', content: fillPrompt(loadPrompt('merge', lang), { parts: pieces.length, drafts: JSON.stringify(drafts, null, 1) }) },
      ],
      'merge',
    );
    draft = merged.draft;
    depth = Math.max(...partDrafts.map((p) => p.depth)) + merged.depth;
  }

  const resolver = new DraftResolver(transcript);
  const resolved = resolver.resolve(draft);
  return MinutesSchema.parse({
    schemaVersion: MINUTES_SCHEMA_VERSION,
    meetingId: transcript.meetingId,
    language: transcript.language,
    kind: 'minutes',
    ...resolved,
    participants: participantsOf(transcript),
    generation: {
      generatedAt: now().toISOString(),
      model: opts.model,
      promptVersion: PROMPT_VERSION,
      calls: run.calls,
      sequentialDepth: depth,
      parts,
      repaired: run.repaired,
      usage: run.usage,
      ...resolver.stats,
      transcriptComplete: transcript.completeness.complete,
    },
  });
}
