import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, serializeError } from './logging.js';

/** The product's logger, writing its lines into an array. */
function capture(): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger('test', 'info', sink) };
}

describe('logging an error', () => {
  it('keeps what tells failures apart and nothing that may quote what was said', () => {
    const { lines, log } = capture();
    const e = Object.assign(new Error(`upstream refused: ${'x'.repeat(500)}`), {
      status: 503,
      code: 'ECONNRESET',
      retryable: true,
      body: 'Bonjour à tous, merci d’être là',
      cause: new Error('alice.martin@mairie-exemple.fr'),
    });
    log.warn({ err: e }, 'speech-to-text failed');
    const err = lines[0]?.err as Record<string, unknown>;
    expect(err).toEqual({ name: 'Error', code: 'ECONNRESET', status: 503, retryable: true, message: e.message.slice(0, 300) });
    const line = JSON.stringify(lines[0]);
    expect(line).not.toContain('Bonjour');
    expect(line).not.toContain('mairie-exemple');
    expect(line).not.toContain('logging.test.ts'); // no stack
  });

  it('handles what is not an Error, and an HTTP statusCode', () => {
    expect(serializeError('plain text')).toEqual({ message: 'plain text' });
    expect(serializeError(Object.assign(new Error('no'), { statusCode: 404 }))).toMatchObject({ status: 404 });
  });
});
