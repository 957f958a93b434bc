/**
 * Structured JSON logs. Meeting content (transcript text, audio, minutes, email bodies) and secrets
 * must never be logged: log ids, counts and durations only. The redaction list is a safety net for
 * mistakes, not a licence to log objects wholesale.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export const REDACTED_PATHS = [
  'text', '*.text', 'segments', '*.segments', 'transcript', '*.transcript', 'minutes', '*.minutes',
  'audio', '*.audio', 'content', '*.content', 'prompt', '*.prompt', 'email', '*.email', 'html', '*.html',
  'apiKey', '*.apiKey', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization',
  'password', '*.password', 'secret', '*.secret',
];

/**
 * pino's serializer for the `err` key, the one way to log an error: `log.warn({ err: e }, '…')`.
 * Keeps what tells failures apart (name, code, HTTP status, whether it is retryable) and the first
 * 300 characters of the message; never the stack, the cause chain or other fields, which can carry
 * request bodies (audio, transcript text, addresses).
 */
export function serializeError(e: unknown): Record<string, unknown> {
  if (!(e instanceof Error)) return { message: String(e).slice(0, 300) };
  const extra = e as Error & { status?: unknown; statusCode?: unknown; retryable?: unknown; code?: unknown };
  return { name: e.name, message: e.message.slice(0, 300), code: extra.code, status: extra.status ?? extra.statusCode, retryable: extra.retryable };
}

/** The process's logger: JSON lines on stdout, or on `destination` (tests read what it writes). */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: serializeError },
    base: { pid: process.pid },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
