/**
 * The multipart/form-data body of POST /v1/audio/transcriptions, as OpenAI-compatible clients and
 * the @mistralai/mistralai SDK send it, parsed and validated.
 */
import { z } from 'zod';
import type { Provider } from './cassette.js';
import { HttpError } from './http-io.js';
import type { OpenAiResponseFormat } from './transcription-format.js';

export interface TranscriptionRequest {
  provider: Provider;
  model: string;
  language: string | null;
  file: { bytes: Buffer; name: string; type: string };
  /** OpenAI only; Mistral always answers JSON. */
  responseFormat: OpenAiResponseFormat;
  /** "segment" and/or "word" (OpenAI: timestamp_granularities[]; Mistral: timestamp_granularities). */
  granularities: string[];
  /** Every text field as sent, to forward in record mode. */
  fields: [string, string][];
}

const Granularity = z.enum(['segment', 'word']);

const OpenAiFields = z.object({
  model: z.string().min(1, 'model is required'),
  language: z.string().regex(/^[a-z]{2,3}$/, 'language must be an ISO-639-1 code such as "fr"').optional(),
  response_format: z.enum(['json', 'verbose_json', 'text', 'srt', 'vtt']).default('json'),
  prompt: z.string().optional(),
  temperature: z.coerce.number().min(0).max(1).optional(),
});

const MistralFields = z.object({
  model: z.string().min(1, 'model is required'),
  language: z.string().regex(/^[a-z]{2,3}$/, 'language must be an ISO-639-1 code such as "fr"').optional(),
  stream: z.enum(['false', 'true']).default('false'),
  diarize: z.enum(['false', 'true']).optional(),
  temperature: z.coerce.number().optional(),
  file_url: z.string().optional(),
  file_id: z.string().optional(),
});

export async function parseTranscriptionRequest(provider: Provider, contentType: string | undefined, body: Buffer): Promise<TranscriptionRequest> {
  const invalid = (message: string, param: string | null = null) =>
    new HttpError(provider === 'openai' ? 400 : 422, message, 'invalid_request_error', param);
  if (!contentType?.toLowerCase().startsWith('multipart/form-data')) {
    throw invalid('expected a multipart/form-data body');
  }
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw invalid('malformed multipart/form-data body');
  }

  const fields: [string, string][] = [];
  const single: Record<string, string> = {};
  let file: { bytes: Buffer; name: string; type: string } | null = null;
  for (const [key, value] of form) {
    if (typeof value === 'string') {
      fields.push([key, value]);
      single[key] = value;
    } else if (key === 'file') {
      file = { bytes: Buffer.from(await value.arrayBuffer()), name: value.name || 'audio', type: value.type || 'application/octet-stream' };
    }
  }
  const granularityKey = provider === 'openai' ? 'timestamp_granularities[]' : 'timestamp_granularities';
  const granularities = fields.filter(([k]) => k === granularityKey || k === 'timestamp_granularities').map(([, v]) => v);
  const badGranularity = granularities.find((g) => !Granularity.safeParse(g).success);
  if (badGranularity !== undefined) throw invalid(`unknown timestamp granularity "${badGranularity}"`, granularityKey);

  const schema = provider === 'openai' ? OpenAiFields : MistralFields;
  const parsed = schema.safeParse(single);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(issue?.message ?? 'invalid field', issue?.path.join('.') ?? null);
  }
  if (provider === 'mistral') {
    const m = parsed.data as z.infer<typeof MistralFields>;
    if (m.stream === 'true') throw invalid('streaming transcription is not supported by the replay server', 'stream');
    if (!file && (m.file_url || m.file_id)) throw invalid('the replay server transcribes uploaded files only, not file_url or file_id', 'file');
  }
  if (!file || file.bytes.length === 0) throw invalid('file is required', 'file');

  const responseFormat = provider === 'openai' ? (parsed.data as z.infer<typeof OpenAiFields>).response_format : 'json';
  if (provider === 'openai' && granularities.length > 0 && responseFormat !== 'verbose_json') {
    throw invalid('timestamp_granularities requires response_format=verbose_json', 'timestamp_granularities');
  }
  return { provider, model: parsed.data.model, language: parsed.data.language ?? null, file, responseFormat, granularities, fields };
}
