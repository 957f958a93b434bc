/**
 * Structured JSON logs. Meeting content (transcript text, audio, minutes, email bodies) and secrets
 * must never be logged: log ids, counts and durations only. The redaction list is a safety net for
 * mistakes, not a licence to log objects wholesale.
 */
import { pino, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'text', '*.text', 'segments', '*.segments', 'transcript', '*.transcript', 'minutes', '*.minutes',
  'audio', '*.audio', 'content', '*.content', 'prompt', '*.prompt', 'email', '*.email', 'html', '*.html',
  'apiKey', '*.apiKey', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization',
  'password', '*.password', 'secret', '*.secret',
];

export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { pid: process.pid } });
}

export type { Logger };
