import { describe, expect, it } from 'vitest';
import { buildChatEntry } from './chat-replay.js';
import { chatKeyOf, closestChatEntry, findChatEntry } from './chat-match.js';

const response = {
  id: 'x',
  object: 'chat.completion',
  model: 'mistral-small-2506',
  created: 1,
  choices: [{ index: 0, message: { role: 'assistant' as const, content: 'ok' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

const body = (user: string, extra: Record<string, unknown> = {}) => ({
  model: 'mistral-small-latest',
  messages: [
    { role: 'system', content: 'Résume la réunion.' },
    { role: 'user', content: user },
  ],
  ...extra,
});

describe('chat request matching', () => {
  const entry = buildChatEntry(body('[00:01:05] Alice : le budget 2025 est validé.'), response, { id: 'e1' });

  it('ignores whitespace and digits that jitter between runs', () => {
    expect(findChatEntry([entry], chatKeyOf(body('[00:01:07]   Alice :\n le budget 2026 est validé.')))?.id).toBe('e1');
  });

  it('treats text chunks like a plain string content', () => {
    const chunked = { model: 'mistral-small-latest', messages: [{ role: 'system', content: [{ type: 'text', text: 'Résume la réunion.' }] }, body('[00:01:05] Alice : le budget 2025 est validé.').messages[1]] };
    expect(findChatEntry([entry], chatKeyOf(chunked))?.id).toBe('e1');
  });

  it('does not match a different word, another model, another role or another schema name', () => {
    expect(findChatEntry([entry], chatKeyOf(body('[00:01:05] Alice : le budget 2025 est refusé.')))).toBeUndefined();
    expect(findChatEntry([entry], chatKeyOf({ ...body('[00:01:05] Alice : le budget 2025 est validé.'), model: 'mistral-large-latest' }))).toBeUndefined();
    const asAssistant = body('x');
    asAssistant.messages[1] = { role: 'assistant', content: '[00:01:05] Alice : le budget 2025 est validé.' };
    expect(findChatEntry([entry], chatKeyOf(asAssistant))).toBeUndefined();
    const withSchema = body('[00:01:05] Alice : le budget 2025 est validé.', { response_format: { type: 'json_schema', json_schema: { name: 'Minutes', schema: {} } } });
    expect(findChatEntry([entry], chatKeyOf(withSchema))).toBeUndefined();
  });

  it('names the closest entry and where the request first differs', () => {
    const other = buildChatEntry(body('Tout autre chose.'), response, { id: 'e2' });
    const near = closestChatEntry([other, entry], chatKeyOf(body('[00:01:05] Alice : le budget 2025 est refusé.')));
    expect(near?.entryId).toBe('e1');
    expect(near?.similarity).toBeGreaterThan(0.8);
    expect(near?.excerpt.recorded).toContain('validé');
    expect(near?.excerpt.request).toContain('refusé');
    expect(entry.request.slice(near?.firstDifferenceAt ?? 0)).toMatch(/^validé/);
  });
});
