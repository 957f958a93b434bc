/**
 * Data-residency guard: meeting content (audio, transcript, minutes, emails) may only be sent to
 * hosts the operator listed in ALLOWED_HOSTS. Checked once at start, before any connection.
 */
import type { Config, Role } from './config.js';

interface Endpoint {
  label: string;
  setting: 'STT_BASE_URL' | 'MISTRAL_SERVER_URL' | 'S3_ENDPOINT' | 'SMTP_URL';
  usedBy: readonly Role[];
}

// What each role sends meeting content to. LiveKit and Redis are not listed: they are the
// operator's own infrastructure and carry audio/segments by construction.
const ENDPOINTS: readonly Endpoint[] = [
  { label: 'speech-to-text', setting: 'STT_BASE_URL', usedBy: ['worker', 'pipeline', 'api', 'transcribe'] },
  { label: 'Mistral (minutes)', setting: 'MISTRAL_SERVER_URL', usedBy: ['pipeline', 'transcribe'] },
  { label: 'S3 storage', setting: 'S3_ENDPOINT', usedBy: ['worker', 'pipeline', 'api', 'transcribe', 'delete'] },
  { label: 'SMTP', setting: 'SMTP_URL', usedBy: ['pipeline', 'transcribe'] },
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
  return allowed.some((a) => (a.startsWith('.') ? h.endsWith(a) || h === a.slice(1) : h === a));
}

function endpointHost(config: Config, setting: Endpoint['setting']): string | undefined {
  const value = config[setting];
  if (value) return new URL(value).hostname;
  // No S3 endpoint means the AWS SDK's default, which is AWS itself.
  if (setting === 'S3_ENDPOINT') return `s3.${config.S3_REGION}.amazonaws.com`;
  return undefined;
}

/** One problem per endpoint outside the allowed hosts; none when ALLOWED_HOSTS is unset. */
export function checkDataResidency(config: Config, role: Role): string[] {
  if (!config.ALLOWED_HOSTS) return [];
  const allowed = parseAllowedHosts(config.ALLOWED_HOSTS);
  const problems: string[] = [];
  for (const endpoint of ENDPOINTS) {
    if (!endpoint.usedBy.includes(role)) continue;
    const host = endpointHost(config, endpoint.setting);
    if (host !== undefined && !isHostAllowed(host, allowed)) {
      problems.push(
        `${endpoint.setting}: the ${endpoint.label} host "${host}" is not in ALLOWED_HOSTS (${allowed.join(', ')}). ` +
          `Meeting content would leave the hosts you allowed: change ${endpoint.setting} or add the host to ALLOWED_HOSTS.`,
      );
    }
  }
  return problems;
}
