/**
 * Reading requests and writing answers, with errors in each provider's own body format so that
 * the real clients parse them the way they parse the real service's errors.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Provider } from './cassette.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) tooLarge = true;
      else chunks.push(c);
    });
    req.once('end', () =>
      tooLarge ? reject(new HttpError(413, `request body larger than ${maxBytes} bytes`, 'invalid_request_error')) : resolve(Buffer.concat(chunks)),
    );
    req.once('error', reject);
  });
}

export function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json', JSON.stringify(value), headers);
}

/** OpenAI: {error: {message, type, param, code}}. Mistral: {object: "error", message, type, param, code}. */
export function errorBody(provider: Provider, e: HttpError): unknown {
  return provider === 'openai'
    ? { error: { message: e.message, type: e.type, param: e.param, code: e.type, ...e.extra } }
    : {
        object: 'error',
        message: e.message,
        type: e.type,
        param: e.param,
        code: String(e.status),
        // The SDK reads a 422 as HTTPValidationError, whose details are FastAPI-style.
        ...(e.status === 422 ? { detail: [{ loc: ['body', ...(e.param ? [e.param] : [])], msg: e.message, type: e.type }] } : {}),
        ...e.extra,
      };
}

export function sendError(res: ServerResponse, provider: Provider, e: HttpError): void {
  sendJson(res, e.status, errorBody(provider, e), e.headers);
}

/** The standard reason for an injected status, phrased like the services phrase it. */
export function faultMessage(status: number): { message: string; type: string } {
  switch (status) {
    case 429:
      return { message: 'Rate limit exceeded (injected by the replay server)', type: 'rate_limit_exceeded' };
    case 500:
      return { message: 'Internal server error (injected by the replay server)', type: 'server_error' };
    case 502:
      return { message: 'Bad gateway (injected by the replay server)', type: 'bad_gateway' };
    case 503:
      return { message: 'Service unavailable (injected by the replay server)', type: 'service_unavailable' };
    case 504:
      return { message: 'Gateway timeout (injected by the replay server)', type: 'gateway_timeout' };
    default:
      return { message: `Error ${status} (injected by the replay server)`, type: 'injected_error' };
  }
}

