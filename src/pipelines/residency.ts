/**
 * Data-residency guard: meeting content (audio, transcript, minutes, emails) may only be sent to
 * hosts the operator listed in ALLOWED_HOSTS. Checked once at start, before any connection.
 *
 * The host checked is the one the client library will really connect to, as the library itself
 * resolves it, not our own reading of the URL:
 * - SMTP_URL: nodemailer's transport built from it (its `service` query picks a well-known host,
 *   `proxy` relays through another, `sendmail` / `jsonTransport`... are not SMTP at all);
 * - S3: the AWS SDK's request for the bucket, stopped before it is sent (virtual-host style puts
 *   the bucket in the host name; AWS_ENDPOINT_URL* in the environment replace a missing endpoint);
 * - STT_BASE_URL, MISTRAL_SERVER_URL: the WHATWG URL parser fetch and the Mistral SDK use; those
 *   clients follow no redirect (resident-fetch.ts), so the host checked is the only one reached.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ConfigError, loadConfig, type Config, type Role } from '../config.js';
import { createS3Client } from '../storage/s3-client.js';
import { createSmtpTransport } from './email/mailer.js';

type Setting = 'STT_BASE_URL' | 'MISTRAL_SERVER_URL' | 'S3_ENDPOINT' | 'SMTP_URL';

interface Endpoint {
  label: string;
  setting: Setting;
  usedBy: readonly Role[];
  /** Where the client connects: host names (a relay counts too), or why it cannot be allowed. */
  resolve: (config: Config) => Promise<{ hosts: string[]; refusal?: string }>;
}

// What each role sends meeting content to. LiveKit and Redis are not listed: they are the
// operator's own infrastructure and carry audio/segments by construction.
const ENDPOINTS: readonly Endpoint[] = [
  {
    label: 'speech-to-text',
    setting: 'STT_BASE_URL',
    usedBy: ['worker', 'pipeline', 'api', 'transcribe'],
    // With STT_PROVIDER=mistral and no STT_BASE_URL, speech goes to MISTRAL_SERVER_URL (stt/index.ts).
    resolve: async (c) => ({ hosts: [httpHost(c.STT_BASE_URL || c.MISTRAL_SERVER_URL)] }),
  },
  { label: 'Mistral (minutes)', setting: 'MISTRAL_SERVER_URL', usedBy: ['pipeline', 'transcribe'], resolve: async (c) => ({ hosts: [httpHost(c.MISTRAL_SERVER_URL)] }) },
  {
    label: 'S3 storage',
    setting: 'S3_ENDPOINT',
    usedBy: ['worker', 'pipeline', 'api', 'transcribe', 'delete'],
    // No bucket, no S3 (`transcribe` then keeps its artefacts in --out; the other roles require one).
    resolve: async (c) => ({ hosts: c.S3_BUCKET ? [await s3Host(c)] : [] }),
  },
  { label: 'SMTP', setting: 'SMTP_URL', usedBy: ['pipeline', 'transcribe'], resolve: async (c) => smtpHosts(c.SMTP_URL) },
];

/** Parses ALLOWED_HOSTS: exact names, or suffixes written ".example.fr" / "*.example.fr". */
export function parseAllowedHosts(value: string): string[] {
  return value
    .split(',')
    .map((h) => h.trim().toLowerCase().replace(/^\*\./, '.'))
    .filter((h) => h.length > 0);
}

export function isHostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (h === '') return false;
  return allowed.some((a) => (a.startsWith('.') ? h.endsWith(a) || h === a.slice(1) : h === a));
}

function httpHost(url: string): string {
  return new URL(url).hostname;
}

class HostCaptured extends Error {
  constructor(readonly host: string) {
    super('residency check: request stopped before sending');
  }
}

/**
 * The host the product's S3 client sends a request for the bucket to: the SDK builds and resolves
 * the request (endpoint, region, addressing style, environment), and a last build-step
 * middleware records its host name and stops it. No connection is made.
 */
async function s3Host(config: Config): Promise<string> {
  const client = createS3Client(config);
  client.middlewareStack.add(
    () => async (args) => {
      throw new HostCaptured((args.request as { hostname?: string }).hostname ?? '');
    },
    { step: 'build', priority: 'low', name: 'residencyHostCapture' },
  );
  try {
    await client.send(new HeadObjectCommand({ Bucket: config.S3_BUCKET, Key: 'residency-check' }));
    throw new Error('the S3 client sent a request the residency check meant to stop');
  } catch (e) {
    if (e instanceof HostCaptured) return e.host;
    throw e;
  } finally {
    client.destroy();
  }
}

/** The hosts nodemailer's transport for SMTP_URL connects to (server, and proxy if any). */
function smtpHosts(smtpUrl: string | undefined): { hosts: string[]; refusal?: string } {
  if (!smtpUrl) return { hosts: [] };
  let mail: { transporter: { name?: string; options?: { host?: string; proxy?: string }; close?: () => void } };
  try {
    mail = createSmtpTransport(smtpUrl) as unknown as typeof mail;
  } catch (e) {
    // e.g. `?SES=1`: nodemailer wants another transport's client and builds none.
    const code = (e as { code?: unknown }).code;
    return { hosts: [], refusal: `nodemailer builds no SMTP transport from it (${typeof code === 'string' ? code : 'error'}: its URL query asks for another transport)` };
  }
  const transporter = mail.transporter;
  try {
    if (transporter.name !== 'SMTP' && transporter.name !== 'SMTP (pool)') {
      return { hosts: [], refusal: `nodemailer would not send by SMTP but through "${transporter.name ?? 'another transport'}" (set by the URL's query)` };
    }
    // nodemailer's connection defaults to localhost when no host is given.
    const hosts = [transporter.options?.host || 'localhost'];
    if (transporter.options?.proxy) {
      try {
        hosts.push(new URL(transporter.options.proxy).hostname);
      } catch {
        return { hosts, refusal: 'its proxy (URL query "proxy") is not a URL' };
      }
    }
    return { hosts };
  } finally {
    transporter.close?.();
  }
}

/** One problem per endpoint outside the allowed hosts; none when ALLOWED_HOSTS is unset. */
export async function checkDataResidency(config: Config, role: Role): Promise<string[]> {
  if (!config.ALLOWED_HOSTS) return [];
  const allowed = parseAllowedHosts(config.ALLOWED_HOSTS);
  const problems: string[] = [];
  for (const endpoint of ENDPOINTS) {
    if (!endpoint.usedBy.includes(role)) continue;
    const { hosts, refusal } = await endpoint.resolve(config);
    if (refusal) {
      problems.push(`${endpoint.setting}: ${refusal}; meeting content could leave the hosts you allowed. Change ${endpoint.setting}.`);
      continue;
    }
    for (const host of hosts) {
      if (!isHostAllowed(host, allowed)) {
        problems.push(
          `${endpoint.setting}: the ${endpoint.label} client would connect to "${host}", which is not in ALLOWED_HOSTS (${allowed.join(', ')}). ` +
            `Meeting content would leave the hosts you allowed: change ${endpoint.setting} or add the host to ALLOWED_HOSTS.`,
        );
      }
    }
  }
  return problems;
}

/**
 * The settings of a role, validated (config.ts) and then checked against ALLOWED_HOSTS. Every role
 * starts with this; it throws one ConfigError listing every problem.
 */
export async function loadCheckedConfig(role: Role, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const config = loadConfig(role, env);
  const problems = await checkDataResidency(config, role);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
