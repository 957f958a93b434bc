/**
 * Every setting of the product, read from the environment once at start and validated with zod.
 *
 * The table below is the single source of truth: validation, the error message an operator sees,
 * the README's configuration table and `.env.example` are all derived from it.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** The long-running roles of the one image; each needs a different subset of settings. */
export type Role = 'worker' | 'pipeline' | 'api' | 'transcribe' | 'delete';
const ALL_ROLES: readonly Role[] = ['worker', 'pipeline', 'api', 'transcribe', 'delete'];

interface Setting {
  /** What the operator reads in the error message and in the README. */
  description: string;
  /** Example shown when the value is missing or wrong. */
  example: string;
  /** Roles that cannot start without it (settings with a default are never missing). */
  requiredFor?: readonly Role[];
  /** Never echoed back, not even in error messages. */
  secret?: boolean;
  default?: string;
  schema: z.ZodType;
}

const url = (protocols: readonly string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
const positiveInt = z.coerce.number().int().positive();

/** An address, a CIDR range or one of proxy-addr's names (what fastify's trustProxy accepts). */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const version = isIP(address ?? '');
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}
const text = z.string().min(1);

export const SETTINGS = {
  LIVEKIT_URL: {
    description: 'WebSocket URL of your LiveKit server.',
    example: 'wss://visio.example.fr',
    requiredFor: ['worker', 'api'],
    schema: url(['ws:', 'wss:', 'http:', 'https:']),
  },
  LIVEKIT_API_KEY: {
    description: 'LiveKit API key (the agent registers and mints tokens with it).',
    example: 'APIxxxxxxxx',
    requiredFor: ['worker', 'api'],
    secret: true,
    schema: text,
  },
  LIVEKIT_API_SECRET: {
    description: 'LiveKit API secret (also verifies hosts\u2019 tokens and webhook signatures).',
    example: '<secret from livekit.yaml>',
    requiredFor: ['worker', 'api'],
    secret: true,
    schema: text,
  },
  AGENT_NAME: {
    description: 'Agent name under which the worker registers; dispatches must use the same name.',
    example: 'meeting-transcriber',
    default: 'meeting-transcriber',
    schema: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore only'),
  },
  REDIS_URL: {
    description:
      'Redis for the BullMQ queues and the meetings\u2019 state (needs maxmemory-policy noeviction). `transcribe` uses it when set (the meeting can then be read, resumed and erased like a live one); without it, `transcribe` keeps the meeting\u2019s state in its own process.',
    example: 'redis://redis.internal:6379',
    requiredFor: ['worker', 'pipeline', 'api'],
    secret: true, // may carry a password
    schema: url(['redis:', 'rediss:']),
  },
  S3_ENDPOINT: {
    description: 'S3-compatible endpoint (MinIO, Ceph, OVHcloud, Scaleway, Outscale...). Empty means AWS.',
    example: 'https://s3.gra.io.cloud.ovh.net',
    schema: url(['http:', 'https:']),
  },
  S3_REGION: {
    description: 'Region of the bucket.',
    example: 'gra',
    default: 'us-east-1',
    schema: text,
  },
  S3_BUCKET: {
    description: 'Bucket for transcripts, minutes and spooled audio.',
    example: 'meeting-minutes',
    requiredFor: ['worker', 'pipeline', 'api', 'delete'],
    schema: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'),
  },
  S3_ACCESS_KEY_ID: {
    description: 'S3 access key.',
    example: 'AKIA...',
    requiredFor: ['worker', 'pipeline', 'api', 'delete'],
    secret: true,
    schema: text,
  },
  S3_SECRET_ACCESS_KEY: {
    description: 'S3 secret key.',
    example: '<secret>',
    requiredFor: ['worker', 'pipeline', 'api', 'delete'],
    secret: true,
    schema: text,
  },
  S3_PREFIX: {
    description: 'Key prefix under which every meeting gets its own folder.',
    example: 'meetings/',
    default: 'meetings/',
    schema: z.string().regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'must be empty or end with "/"'),
  },
  RETENTION_DAYS: {
    description: 'Days after which a meeting\u2019s artefacts expire (lifecycle rule on the retention tag).',
    example: '30',
    default: '30',
    schema: positiveInt.max(3650),
  },
  LINK_EXPIRY_HOURS: {
    description: 'Validity of the presigned links in emails (S3 allows at most 168 h = 7 days).',
    example: '168',
    default: '168',
    schema: positiveInt.max(168),
  },
  STT_PROVIDER: {
    description: 'Speech-to-text provider: an OpenAI-compatible Whisper endpoint, or Mistral (Voxtral).',
    example: 'openai-compatible',
    default: 'openai-compatible',
    schema: z.enum(['openai-compatible', 'mistral']),
  },
  STT_BASE_URL: {
    description: 'Base URL of the speech-to-text API (the part before /audio/transcriptions).',
    example: 'https://stt.example-hebergeur.fr/v1',
    requiredFor: ['worker', 'pipeline', 'api', 'transcribe'],
    schema: url(['http:', 'https:']),
  },
  STT_API_KEY: {
    description: 'Bearer key for the speech-to-text API (empty for a self-hosted server without auth).',
    example: '<key>',
    secret: true,
    schema: z.string(),
  },
  STT_MODEL: {
    description: 'Model name sent to the speech-to-text API (with STT_PROVIDER=mistral the default is voxtral-mini-2507).',
    example: 'whisper-large-v3',
    default: 'whisper-large-v3',
    schema: text,
  },
  STT_LANGUAGE: {
    description: 'Default meeting language (ISO 639-1), unless the dispatch says otherwise.',
    example: 'fr',
    default: 'fr',
    schema: z.string().regex(/^[a-z]{2}$/, 'must be a two-letter ISO 639-1 code such as fr'),
  },
  STT_CONCURRENCY: {
    description: 'Speech-to-text requests in flight per worker process (with WORKER_EXECUTOR=in-process: per room, the process\u2019s shared client allowing this times WORKER_MAX_ROOMS) and per pipeline process.',
    example: '4',
    default: '4',
    schema: positiveInt.max(64),
  },
  STT_TIMEOUT_MS: {
    description: 'Timeout of one speech-to-text request before it is retried.',
    example: '30000',
    default: '30000',
    schema: positiveInt,
  },
  STT_MAX_UPLOAD_MB: {
    description: 'Largest upload the speech-to-text provider accepts, in MiB (OpenAI-style endpoints: 25). A larger piece of a recording is split, never sent.',
    example: '25',
    default: '25',
    schema: positiveInt.max(1024),
  },
  MAX_UTTERANCE_SECONDS: {
    description: 'A monologue is cut at a pause before it gets this long.',
    example: '30',
    default: '30',
    schema: positiveInt.min(5).max(55),
  },
  CAPTION_SENTENCE_PAUSES: {
    description:
      'true (the default): the live agent also ends an utterance at a sentence pause (180 ms) once it holds 3.5 s of speech, so live captions follow a fluent speaker sentence by sentence (issue #15) instead of in blocks of up to MAX_UTTERANCE_SECONDS (a few more, shorter speech-to-text calls: 26 instead of 22 on the fixture meeting, fewer seconds). false: only at Silero\u2019s end of speech and, in a monologue, at a pause from half the maximum on (one speech-to-text call per utterance). Recordings never use it.',
    example: 'false',
    default: 'true',
    schema: z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true'),
  },
  INTERIM_CAPTIONS: {
    description:
      'true: while someone speaks, the live agent also publishes interim captions (lk.transcription_final=false, same lk.segment_id as the final that replaces them) of the utterance so far, after a pause of 180 ms that did not end it (a short sentence opening a turn no longer waits for the next one) and after 6 s of speech without one (issue #15). Each interim is one more speech-to-text call on what the utterance added since the last one, second to the finals: at most one in flight per speaker, only when an STT_CONCURRENCY slot is free, given up for a final that waits, never retried, never a segment. Cost on the fixture meeting (offline, src/agent/interim-cuts.test.ts): +58 % calls and +25 % seconds sent with sentence pauses (CAPTION_SENTENCE_PAUSES, the default), for sentence end to first caption p95 6.6 s down to 1.1 s with 550 ms speech-to-text (without sentence pauses: +86 % and +36 %, 7.1 s down to 1.2 s). Off by default.',
    example: 'true',
    default: 'false',
    schema: z.enum(['true', 'false'], { message: 'must be true or false' }).transform((v) => v === 'true'),
  },
  MAX_MEETING_MINUTES: {
    description: 'The agent leaves and finalises after this long in a room.',
    example: '480',
    default: '480',
    schema: positiveInt,
  },
  MISTRAL_API_KEY: {
    description: 'Mistral API key for the minutes.',
    example: '<key>',
    requiredFor: ['pipeline', 'transcribe'],
    secret: true,
    schema: text,
  },
  MISTRAL_SERVER_URL: {
    description: 'Mistral API base URL; default is Mistral\u2019s EU server.',
    example: 'https://api.eu.mistral.ai',
    default: 'https://api.eu.mistral.ai',
    schema: url(['http:', 'https:']),
  },
  MISTRAL_MODEL: {
    description: 'Dated Mistral model id for the minutes (pin it: the minutes should not change under you).',
    example: 'mistral-medium-2508',
    default: 'mistral-medium-2508',
    schema: text,
  },
  MINUTES_TOKEN_BUDGET: {
    description: 'Above this many estimated transcript tokens, minutes are made in parts and merged.',
    example: '24000',
    default: '24000',
    schema: positiveInt.min(1000),
  },
  SMTP_URL: {
    description: 'SMTP server for the summary emails (smtps:// for implicit TLS). `transcribe` needs it only with --email.',
    example: 'smtp://user:password@smtp.example.fr:587',
    requiredFor: ['pipeline'],
    secret: true, // carries credentials
    schema: url(['smtp:', 'smtps:']),
  },
  MAIL_FROM: {
    description: 'Sender of the summary emails (`transcribe`: only with --email).',
    example: 'Comptes rendus <no-reply@example.fr>',
    requiredFor: ['pipeline'],
    schema: z.string().regex(/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+\.?[^\s@<>]*>?$/, 'must be an address, e.g. no-reply@example.fr'),
  },
  ALLOWED_HOSTS: {
    description:
      'Data-residency guard: comma-separated host names (or suffixes starting with "."). When set, the process refuses to start if the speech-to-text, Mistral, S3 or SMTP endpoint is elsewhere.',
    example: '.example.fr,api.eu.mistral.ai',
    schema: z.string(),
  },
  API_PORT: {
    description: 'Port of the HTTP control plane.',
    example: '8080',
    default: '8080',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  METRICS_PORT: {
    description:
      'Port on which `meeting-agent pipeline` serves Prometheus metrics at /metrics and its health at /healthz (unset: neither; docker-compose sets 8082). The API serves both on API_PORT, with the cluster-wide gauges.',
    example: '9464',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  WORKER_EXECUTOR: {
    description:
      'How `meeting-agent worker` runs its rooms. `process`: one job process per room (@livekit/agents\u2019 executor, ~230 MB each). `in-process`: up to WORKER_MAX_ROOMS rooms in the worker process itself, each in its own error boundary, sharing one VAD model and one speech-to-text client (the worker speaks LiveKit\u2019s agent protocol itself; see src/agent/README.md).',
    example: 'in-process',
    default: 'process',
    schema: z.enum(['process', 'in-process']),
  },
  WORKER_MAX_ROOMS: {
    description:
      'With WORKER_EXECUTOR=in-process: rooms one worker process hosts at most (it also reports itself full earlier when its CPU passes 75 % of the cores or a room\u2019s VAD falls 1 s behind). Unset: 4 per CPU core.',
    example: '8',
    schema: positiveInt.max(256),
  },
  HEALTH_HOST: {
    description:
      'Address on which `meeting-agent worker` serves its health answer (it names the agent and its job count). Loopback by default: the image\u2019s HEALTHCHECK runs inside the container; set 0.0.0.0 only where a probe comes from outside (e.g. Kubernetes).',
    example: '127.0.0.1',
    default: '127.0.0.1',
    schema: z.string().refine((v) => isIP(v) !== 0 || v === 'localhost', 'must be an IP address (127.0.0.1, ::1, 0.0.0.0...) or localhost'),
  },
  HEALTH_PORT: {
    description: 'Port of the worker\u2019s health answer (GET / answers 200 while the worker is connected to LiveKit).',
    example: '8081',
    default: '8081',
    schema: z.coerce.number().int().min(0).max(65535),
  },
  API_SERVICE_KEYS: {
    description:
      'Comma-separated keys the conferencing backend presents as "Authorization: Bearer <key>"; each at least 32 characters of randomness (e.g. `openssl rand -base64 32`), so no number of guesses finds one.',
    example: '<long random string>',
    secret: true,
    schema: z.string().refine(
      (v) => v.split(',').every((k) => k.trim().length === 0 || k.trim().length >= 32),
      'each key must be at least 32 characters long',
    ),
  },
  TRUSTED_PROXIES: {
    description:
      'Load balancers or reverse proxies in front of the API, comma-separated addresses or CIDR ranges (or loopback, linklocal, uniquelocal). Requests from them are attributed to the client address in X-Forwarded-For, so limits apply per client. Unset: the connecting address counts, and X-Forwarded-For is ignored (set it only for proxies that overwrite that header).',
    example: '10.0.0.0/8,fd00::/8',
    schema: z
      .string()
      .transform((v) => v.split(',').map((p) => p.trim()).filter((p) => p.length > 0))
      .refine((list) => list.every(isProxyAddress), 'each entry must be an IP address, a CIDR range such as 10.0.0.0/8, or loopback, linklocal or uniquelocal'),
  },
  RECIPIENT_SIGNING_KEY: {
    description:
      'Key shared with the conferencing backend: a participant\u2019s `email` attribute is trusted when `email.sig` is its HMAC-SHA256 (see docs/interfaces.md). Unset: only addresses of participants who cannot update their own metadata are used.',
    example: '<32+ random bytes, base64>',
    secret: true,
    schema: z.string().min(32, 'must be at least 32 characters (a random key, e.g. `openssl rand -base64 32`)'),
  },
  LOG_LEVEL: {
    description: 'Log level (logs never contain meeting content).',
    example: 'info',
    default: 'info',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  },
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
export const MISTRAL_STT_DEFAULT_MODEL = 'voxtral-mini-2507';
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** The parsed settings; optional ones are `undefined` when unset. */
export type Config = {
  [K in SettingName]: (typeof SETTINGS)[K] extends { default: string } | { requiredFor: readonly Role[] }
    ? z.output<(typeof SETTINGS)[K]['schema']>
    : z.output<(typeof SETTINGS)[K]['schema']> | undefined;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration: ${problems.length} problem${problems.length === 1 ? '' : 's'}.\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nSee the configuration table in README.md.',
    );
    this.name = 'ConfigError';
  }
}

/**
 * Reads and validates the settings a role needs. Throws one ConfigError listing every problem,
 * so an operator fixes them all in one go; secret values are never repeated back. Roles start with
 * `loadCheckedConfig` (pipelines/residency.ts), which adds the ALLOWED_HOSTS check.
 */
export function loadConfig(role: Role, env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const setting: Setting = SETTINGS[name];
    const raw = env[name];
    const value = raw === undefined || raw.trim() === '' ? setting.default : raw.trim();
    if (value === undefined) {
      if (setting.requiredFor?.includes(role)) {
        problems.push(`${name} is missing. ${setting.description} Example: ${name}=${setting.example}`);
      }
      continue;
    }
    const parsed = setting.schema.safeParse(value);
    if (parsed.success) {
      out[name] = parsed.data;
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      const shown = setting.secret ? '(value hidden)' : JSON.stringify(value);
      problems.push(`${name} ${shown} is invalid: ${why}. Example: ${name}=${setting.example}`);
    }
  }
  const config = out as Config;
  // Whisper's name means nothing to Mistral: the default model follows the provider.
  if (!env.STT_MODEL?.trim() && config.STT_PROVIDER === 'mistral') config.STT_MODEL = MISTRAL_STT_DEFAULT_MODEL;
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Roles in which a setting matters, for documentation. */
export function rolesNeeding(name: SettingName): readonly Role[] {
  const setting: Setting = SETTINGS[name];
  return setting.requiredFor ?? ALL_ROLES;
}
