/**
 * Errors the API answers with on purpose: a status, a stable code and a message for a human.
 * Anything else that escapes a handler is a bug, answered 500 without details.
 */
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

/**
 * The 400 for a request that failed its route's zod schemas (Fastify's validation, see server.ts):
 * every problem with its place (`where`: params, body, query or headers) and dotted path, never the
 * values. `failures` are Fastify's validation errors: a JSON-pointer `instancePath` and a message.
 */
export function invalidRequest(where: string | undefined, failures: { instancePath: string; message?: string }[]): ApiError {
  const place = (['params', 'body', 'query', 'headers'] as const).find((p) => p === where) ?? 'body';
  const issues = failures.map((f) => ({
    in: place,
    path: f.instancePath.split('/').slice(1).join('.') || '(root)',
    message: f.message ?? 'invalid',
  }));
  return new ApiError(400, 'invalid_request', `Invalid ${place}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}
