/**
 * What the OpenAPI 3.1 document says besides the routes: @fastify/swagger builds it from the zod
 * schemas each route declares (fastify-type-provider-zod's jsonSchemaTransform), so the document
 * and the validation cannot drift. Served at /openapi.json and committed as openapi/openapi.json
 * (test/api/control-plane.test.ts keeps them equal; regenerate with
 * `npx vitest run test/api/control-plane.test.ts -t OpenAPI -u`).
 */
import type { SwaggerOptions, SwaggerTransform, SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

/**
 * @fastify/swagger marks every declared body required; a route with `config.optionalBody` (server.ts)
 * is marked with this extension by `transform` and its body made optional by `transformObject`.
 */
const OPTIONAL_BODY = 'x-optional-body';

const transform: SwaggerTransform = (route) => {
  const out = jsonSchemaTransform(route);
  if (route.route.config?.optionalBody) out.schema = { ...out.schema, [OPTIONAL_BODY]: true } as typeof out.schema;
  return out;
};

const transformObject: SwaggerTransformObject = (documentObject) => {
  const document = jsonSchemaTransformObject(documentObject);
  const paths = ('paths' in document ? document.paths : undefined) ?? {};
  for (const operations of Object.values(paths as Record<string, Record<string, Record<string, unknown>>>)) {
    for (const operation of Object.values(operations)) {
      if (!operation[OPTIONAL_BODY]) continue;
      delete operation[OPTIONAL_BODY];
      (operation.requestBody as { required: boolean }).required = false;
    }
  }
  return document;
};

export const openApiOptions: SwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'meeting-agent control plane',
      version: '1',
      description:
        'Start and stop the live transcription of a LiveKit room, read its state, fetch or erase a meeting\u2019s artefacts. ' +
        'Authenticate with "Authorization: Bearer <credential>", where the credential is either a service key (API_SERVICE_KEYS: the conferencing backend, allowed everything) ' +
        'or the host\u2019s LiveKit access token (signed with this server\u2019s LiveKit API key and secret, not expired). A token acts only on its own room (`video.room`); ' +
        'starting and stopping need `video.roomAdmin`, reading the room\u2019s state needs only a token for that room. ' +
        'LiveKit reuses room names: the room\u2019s state is that of its open instance, and a meeting may be read or erased by a service key, ' +
        'by its requester (a roomAdmin token for its room with the identity that started it), or by a roomAdmin token for its room while the room instance it ran in is still open. ' +
        'Anyone else gets 404. Limits: per credential for valid ones, per client address for missing or invalid ones (429 with Retry-After).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Service key or the host\u2019s LiveKit access token (JWT)' } },
    },
  },
  transform,
  transformObject,
};

/** The committed file's exact text (stable key order, trailing newline) of a built document. */
export function openApiText(document: unknown): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
