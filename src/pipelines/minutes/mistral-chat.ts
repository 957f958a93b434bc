/**
 * The one place that talks to Mistral for the minutes: `@mistralai/mistralai` on its EU server
 * (unless MISTRAL_SERVER_URL points elsewhere), retries on (429 and 5xx, with backoff, honouring
 * Retry-After), the dated model id from the configuration, structured output from the zod schema.
 */
import { Mistral } from '@mistralai/mistralai';
import type { Config } from '../../config.js';
import { residentMistralHttpClient } from '../resident-fetch.js';
import { MinutesDraftSchema } from './minutes-schema.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatCall {
  messages: ChatMessage[];
  /** What the call is for (metrics and logs; never sent). */
  purpose: 'minutes' | 'part' | 'merge' | 'repair';
  /** Output budget (max_tokens); the model's default when absent. */
  maxTokens?: number;
}

export interface ChatAnswer {
  /** The message content as the model wrote it (JSON text), or null. */
  content: string | null;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  model: string;
}

/** A chat completion with the minutes JSON schema as response format. */
export type MinutesChat = (call: ChatCall) => Promise<ChatAnswer>;

export interface MistralChatOptions {
  apiKey: string;
  model: string;
  /** Default: Mistral's EU server. */
  serverURL?: string;
  timeoutMs?: number;
  /** Backoff of the SDK's retries (tests shorten it). */
  backoff?: { initialInterval: number; maxInterval: number; exponent: number; maxElapsedTime: number };
  temperature?: number;
}

export const EU_SERVER_URL = 'https://api.eu.mistral.ai';

export function mistralChatOptionsFrom(config: Pick<Config, 'MISTRAL_API_KEY' | 'MISTRAL_MODEL' | 'MISTRAL_SERVER_URL'>): MistralChatOptions {
  if (!config.MISTRAL_API_KEY) throw new Error('MISTRAL_API_KEY is required for the minutes');
  return { apiKey: config.MISTRAL_API_KEY, model: config.MISTRAL_MODEL, serverURL: config.MISTRAL_SERVER_URL };
}

export function createMistralChat(options: MistralChatOptions): MinutesChat {
  const backoff = options.backoff ?? { initialInterval: 2_000, maxInterval: 60_000, exponent: 1.8, maxElapsedTime: 10 * 60_000 };
  const client = new Mistral({
    apiKey: options.apiKey,
    // The EU server is the SDK's own `eu` entry; an explicit URL (a self-hosted gateway, the replay
    // server) replaces it only when it differs.
    ...(options.serverURL && options.serverURL.replace(/\/+$/, '') !== EU_SERVER_URL ? { serverURL: options.serverURL } : { server: 'eu' as const }),
    retryConfig: { strategy: 'backoff', backoff, retryConnectionErrors: true },
    httpClient: residentMistralHttpClient('MISTRAL_SERVER_URL'),
    timeoutMs: options.timeoutMs ?? 300_000,
  });
  return async (call) => {
    const response = await client.chat.parse({
      model: options.model,
      messages: call.messages,
      responseFormat: MinutesDraftSchema,
      temperature: options.temperature ?? 0.2,
      ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {}),
    });
    const choice = response.choices?.[0];
    const content = choice?.message?.content;
    return {
      content: typeof content === 'string' ? content : Array.isArray(content) ? content.map((c) => ('text' in c ? c.text : '')).join('') : null,
      finishReason: String(choice?.finishReason ?? 'unknown'),
      promptTokens: response.usage?.promptTokens ?? 0,
      completionTokens: response.usage?.completionTokens ?? 0,
      model: response.model ?? options.model,
    };
  };
}
