/**
 * Errors the API answers with on purpose: a status, a stable code and a message for a human.
 * Anything else that escapes a handler is a bug, answered 500 without details.
 */
import type { z } from 'zod';
import type { ErrorBody } from './schemas.js';

type Issue = NonNullable<ErrorBody['issues']>[number];

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly issues?: Issue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return { error: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
}

/** Parses one part of a request; a 400 lists every problem (paths and messages, never the values). */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where: Issue['in']): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({
    in: where,
    path: i.path.map(String).join('.') || '(root)',
    message: i.message,
  }));
  throw new ApiError(400, 'invalid_request', `Invalid ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}
